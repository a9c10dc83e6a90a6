// graphql-ws publishes its `ws` integration only through package.json "exports" ("graphql-ws/use/ws"),
// which this project's moduleResolution ("node", for jest's CommonJS) does not read: the types by path.
declare module 'graphql-ws/use/ws' {
  export { useServer } from 'graphql-ws/dist/use/ws.cjs';
}
