// Only the path helper: the package's index would load the 1.5 MB browser bundle into Node.
declare module 'swagger-ui-dist/absolute-path.js' {
  const getAbsoluteFSPath: () => string;
  export default getAbsoluteFSPath;
}
