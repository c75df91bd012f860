declare module 'swagger-ui-dist' {
  const dist: { getAbsoluteFSPath(): string };
  export default dist;
}
