// Errors any layer may throw for the routes to answer. No imports: the bottom layer.

/** The request asked for something malformed (a bad cursor, a filter given twice): a 400 with this message. */
export class BadRequest extends Error {}
