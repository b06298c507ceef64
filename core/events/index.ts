// Public surface of the ChangeEvent contract (package export "tributary/events").
export * from './change-event.ts';
export * from './connect-schema.ts';
export * from './serde.ts';
export { parseJson, stringifyJson, stringifyValue } from './json.ts';
