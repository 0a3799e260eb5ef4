// The public surface of pgnudge: re-exports only.
export * from './errors.js';
