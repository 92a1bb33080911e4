// Record types inferred from bucket definitions (P-8). With a definition
// written inline (or `as const`), `defineBucket` returns a handle whose
// records, inserts and updates are typed field by field.
import type { FieldDefinition, RecordMeta, SchemaDefinition } from './types.js';

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The TypeScript type of one field's values. */
export type InferField<F> = F extends { readonly enum: readonly (infer E)[] }
  ? E
  : F extends { readonly type: 'string' }
    ? string
    : F extends { readonly type: 'number' }
      ? number
      : F extends { readonly type: 'boolean' }
        ? boolean
        : F extends { readonly type: 'date' }
          ? Date | number | string
          : F extends { readonly type: 'array' }
            ? F extends { readonly items: infer I }
              ? InferField<I>[]
              : unknown[]
            : F extends { readonly type: 'object' }
              ? F extends { readonly properties: infer P extends SchemaDefinition }
                ? InferSchema<P>
                : Record<string, unknown>
              : unknown;

/** Fields every stored record has: required, generated or defaulted ones. */
type PresentKeys<S> = {
  [K in keyof S]: S[K] extends { readonly required: true }
    ? K
    : S[K] extends { readonly generated: string }
      ? K
      : S[K] extends { readonly default: unknown }
        ? K
        : never;
}[keyof S];

/** Fields an insert must provide: required and neither generated nor defaulted. */
type MandatoryKeys<S> = {
  [K in keyof S]: S[K] extends { readonly required: true }
    ? S[K] extends { readonly generated: string }
      ? never
      : S[K] extends { readonly default: unknown }
        ? never
        : K
    : never;
}[keyof S];

/** A schema's record type; `Always` names fields every record has besides the required ones (key fields). */
export type InferSchema<S, Always extends PropertyKey = never> = Simplify<
  { -readonly [K in PresentKeys<S> | (Always & keyof S)]: InferField<S[K]> } & {
    -readonly [K in Exclude<keyof S, PresentKeys<S> | Always>]?: InferField<S[K]> | null;
  }
>;

type SchemaOf<D> = D extends { readonly schema: infer S } ? S : never;

/** The key field names of a definition (a stored record always has them). */
type KeyFieldsOf<D> = D extends { readonly key: infer K }
  ? K extends string
    ? K
    : K extends readonly (infer E)[]
      ? E & string
      : never
  : never;

/** The record type of a bucket definition (without metadata). */
export type InferRecord<D> = InferSchema<SchemaOf<D>, KeyFieldsOf<D>>;

/** What `insert` accepts for a bucket definition. */
export type InferInsert<D> = Simplify<
  { -readonly [K in MandatoryKeys<SchemaOf<D>>]: InferField<SchemaOf<D>[K]> } & {
    -readonly [K in Exclude<keyof SchemaOf<D>, MandatoryKeys<SchemaOf<D>>>]?: InferField<
      SchemaOf<D>[K]
    > | null;
  }
>;

/** A stored record of a bucket definition, with `_version` and timestamps. */
export type InferStoredRecord<D> = InferRecord<D> & RecordMeta;

// Keeps FieldDefinition referenced for declaration output.
export type { FieldDefinition };
