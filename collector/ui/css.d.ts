// Stylesheets imported as text (the viewer's rollup build, css-text).
declare module '*.css' {
  const text: string
  export default text
}
