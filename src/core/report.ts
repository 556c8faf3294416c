// How the core tells the tracker of a problem; the tracker turns it into the public WaymarkError.
import type { ErrorCode } from '../types'

export type Report = (code: ErrorCode, message: string, messageIds?: string[]) => void
