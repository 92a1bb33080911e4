// Checks a BucketDefinition and compiles it into the plain structure the
// engine works with. Every rejection is a DefinitionError naming the bucket
// and the offending part.
import { parseDuration } from '../lifecycle/index.js';
import { DefinitionError } from './errors.js';
import { SchemaValidator } from './schema.js';
import type {
  BucketDefinition,
  FieldDefinition,
  IndexSpec,
  OnDeleteAction,
  SchemaDefinition,
} from './types.js';

export interface IndexDef {
  readonly name: string;
  readonly fields: readonly string[];
  readonly unique: boolean;
  readonly sorted: boolean;
}

export interface RefDef {
  readonly field: string;
  readonly target: string;
  readonly onDelete: OnDeleteAction;
}

export interface HistoryConfig {
  readonly maxVersions: number | undefined;
  readonly maxAgeMs: number | undefined;
}

export interface CompiledBucket {
  readonly name: string;
  readonly definition: BucketDefinition;
  readonly keyFields: readonly string[];
  readonly compositeKey: boolean;
  readonly orderedByKey: boolean;
  readonly indexes: readonly IndexDef[];
  readonly refs: readonly RefDef[];
  readonly ttlMs: number | undefined;
  readonly maxSize: number | undefined;
  readonly persistent: boolean;
  readonly history: HistoryConfig | undefined;
  readonly validator: SchemaValidator;
  readonly hasAutoincrement: boolean;
}

const FIELD_TYPES = new Set(['string', 'number', 'boolean', 'object', 'array', 'date']);
const GENERATED = new Set(['uuid', 'cuid', 'autoincrement', 'timestamp']);
const FORMATS = new Set(['email', 'url', 'iso-date']);
const ON_DELETE = new Set(['restrict', 'cascade', 'set_null']);
const DEFINITION_KEYS = new Set([
  'key',
  'schema',
  'indexes',
  'etsType',
  'persistent',
  'ttl',
  'maxSize',
  'validate',
  'history',
]);

export function compileDefinition(name: string, def: BucketDefinition): CompiledBucket {
  const fail = (message: string): never => {
    throw new DefinitionError(name, message);
  };
  if (typeof name !== 'string' || name === '')
    fail(`Invalid bucket name ${JSON.stringify(name)}: use a non-empty string`);
  // Bucket names are keys of plain objects (getStats' perBucket, describeBuckets): `__proto__` would
  // set a prototype there instead of naming a bucket.
  if (name === '__proto__') fail('Invalid bucket name "__proto__": it cannot name a bucket');
  if (def === null || typeof def !== 'object') fail(`Definition of bucket "${name}" must be an object`);
  for (const k of Object.keys(def)) {
    if (!DEFINITION_KEYS.has(k)) fail(`Unknown option "${k}" in definition of bucket "${name}"`);
  }
  const schema = def.schema;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    fail(`Schema of bucket "${name}" must be an object of field definitions`);
  }
  checkSchema(name, schema, '', fail);

  const keyFields =
    typeof def.key === 'string'
      ? [def.key]
      : Array.isArray(def.key)
        ? [...def.key]
        : fail(`Key of bucket "${name}" must be a field name or a list of field names`);
  if (keyFields.length === 0) fail(`Key of bucket "${name}" must name at least one field`);
  for (const k of keyFields) {
    if (typeof k !== 'string' || !Object.hasOwn(schema, k)) {
      fail(`Key field "${String(k)}" does not exist in schema for bucket "${name}"`);
    }
  }
  if (new Set(keyFields).size !== keyFields.length) fail(`Key of bucket "${name}" repeats a field`);

  const etsType = def.etsType ?? 'set';
  if (etsType !== 'set' && etsType !== 'ordered_set') {
    fail(
      etsType === 'bag' || etsType === 'duplicate_bag'
        ? `etsType "${etsType}" is not supported (bucket "${name}"): records are unique by key; use "set" or "ordered_set"`
        : `Unknown etsType "${String(etsType)}" for bucket "${name}": use "set" or "ordered_set"`,
    );
  }

  const indexes: IndexDef[] = [];
  const seen = new Set<string>();
  const addIndex = (ix: IndexDef) => {
    const sig = `${ix.fields.join(',')}|${ix.sorted}`;
    const existing = indexes.findIndex((i) => `${i.fields.join(',')}|${i.sorted}` === sig);
    if (existing >= 0) {
      // The same fields listed twice (e.g. `unique: true` plus `indexes`): one index, unique if either says so.
      if (ix.unique && !indexes[existing]!.unique)
        indexes[existing] = { ...indexes[existing]!, unique: true };
      return;
    }
    if (seen.has(ix.name)) fail(`Duplicate index name "${ix.name}" in bucket "${name}"`);
    seen.add(ix.name);
    indexes.push(ix);
  };
  if (def.indexes !== undefined && !Array.isArray(def.indexes))
    fail(`indexes of bucket "${name}" must be an array`);
  for (const spec of def.indexes ?? []) addIndex(compileIndex(name, spec, schema, fail));
  for (const [field, fd] of Object.entries(schema)) {
    if (fd.unique === true) addIndex({ name: field, fields: [field], unique: true, sorted: false });
  }

  const refs: RefDef[] = [];
  for (const [field, fd] of Object.entries(schema)) {
    if (fd.ref === undefined) continue;
    if (typeof fd.ref !== 'string' || fd.ref === '')
      fail(`Field "${field}" of bucket "${name}": ref must be a bucket name`);
    const onDelete = fd.onDelete ?? 'restrict';
    if (!ON_DELETE.has(onDelete)) {
      fail(
        `Field "${field}" of bucket "${name}": onDelete must be restrict, cascade or set_null, got "${String(onDelete)}"`,
      );
    }
    if (onDelete === 'set_null' && fd.required === true) {
      fail(`Invalid schema for bucket "${name}": field "${field}" has onDelete "set_null" but is required`);
    }
    if (onDelete === 'set_null' && keyFields.includes(field)) {
      fail(`Invalid schema for bucket "${name}": key field "${field}" cannot have onDelete "set_null"`);
    }
    refs.push({ field, target: fd.ref, onDelete });
  }

  let ttlMs: number | undefined;
  if (def.ttl !== undefined) {
    try {
      ttlMs = parseDuration(def.ttl);
    } catch (e) {
      fail(`Invalid ttl for bucket "${name}": ${(e as Error).message}`);
    }
  }
  if (def.maxSize !== undefined && !(Number.isInteger(def.maxSize) && def.maxSize > 0)) {
    fail(`maxSize of bucket "${name}" must be a positive integer, got ${String(def.maxSize)}`);
  }
  if (def.persistent !== undefined && typeof def.persistent !== 'boolean') {
    fail(`persistent of bucket "${name}" must be a boolean`);
  }
  if (def.validate !== undefined && typeof def.validate !== 'function') {
    fail(`validate of bucket "${name}" must be a function`);
  }

  let history: HistoryConfig | undefined;
  if (def.history !== undefined && def.history !== false) {
    if (def.history === true) history = { maxVersions: undefined, maxAgeMs: undefined };
    else if (typeof def.history === 'object' && def.history !== null) {
      const { maxVersions, maxAge } = def.history;
      if (maxVersions !== undefined && !(Number.isInteger(maxVersions) && maxVersions > 0)) {
        fail(`history.maxVersions of bucket "${name}" must be a positive integer`);
      }
      let maxAgeMs: number | undefined;
      if (maxAge !== undefined) {
        try {
          maxAgeMs = parseDuration(maxAge);
        } catch (e) {
          fail(`Invalid history.maxAge for bucket "${name}": ${(e as Error).message}`);
        }
      }
      history = { maxVersions, maxAgeMs };
    } else fail(`history of bucket "${name}" must be true or {maxVersions, maxAge}`);
  }

  return {
    name,
    definition: def,
    keyFields,
    compositeKey: keyFields.length > 1,
    orderedByKey: etsType === 'ordered_set',
    indexes,
    refs,
    ttlMs,
    maxSize: def.maxSize,
    persistent: def.persistent ?? true,
    history,
    validator: new SchemaValidator(name, schema, keyFields, def.validate),
    hasAutoincrement: Object.values(schema).some((f) => f.generated === 'autoincrement'),
  };
}

function compileIndex(
  bucket: string,
  spec: IndexSpec,
  schema: SchemaDefinition,
  fail: (m: string) => never,
): IndexDef {
  let fields: readonly string[];
  let unique = false;
  let sorted = false;
  let name: string | undefined;
  if (typeof spec === 'string') fields = [spec];
  else if (Array.isArray(spec)) fields = spec;
  else if (spec !== null && typeof spec === 'object' && 'fields' in spec) {
    fields = typeof spec.fields === 'string' ? [spec.fields] : (spec.fields as readonly string[]);
    unique = spec.unique === true;
    sorted = spec.sorted === true;
    name = spec.name;
  } else {
    return fail(
      `Invalid index ${JSON.stringify(spec)} in bucket "${bucket}": use a field name, a list of fields or {fields, unique?, sorted?}`,
    );
  }
  if (!Array.isArray(fields) || fields.length === 0)
    fail(`Index in bucket "${bucket}" must name at least one field`);
  for (const f of fields) {
    if (typeof f !== 'string' || !Object.hasOwn(schema, f)) {
      fail(`Index field "${String(f)}" does not exist in schema for bucket "${bucket}"`);
    }
  }
  if (unique) {
    for (const f of fields) {
      const t = schema[f]!.type;
      if (t === 'object' || t === 'array')
        fail(`Unique index on "${f}" in bucket "${bucket}": ${t} fields cannot be unique`);
    }
  }
  return { name: name ?? fields.join('+') + (sorted ? ':sorted' : ''), fields: [...fields], unique, sorted };
}

function checkSchema(
  bucket: string,
  schema: SchemaDefinition,
  prefix: string,
  fail: (m: string) => never,
): void {
  for (const [field, fd] of Object.entries(schema)) {
    checkField(bucket, prefix ? `${prefix}.${field}` : field, fd, fail);
  }
}

function checkField(bucket: string, path: string, fd: FieldDefinition, fail: (m: string) => never): void {
  const where = `field "${path}" of bucket "${bucket}"`;
  if (fd === null || typeof fd !== 'object') fail(`Definition of ${where} must be an object`);
  if (!FIELD_TYPES.has(fd.type)) {
    fail(
      `Unknown type "${String(fd.type)}" for ${where}: use string, number, boolean, object, array or date`,
    );
  }
  if (fd.generated !== undefined && !GENERATED.has(fd.generated)) {
    fail(
      `Unknown generated "${String(fd.generated)}" for ${where}: use uuid, cuid, autoincrement or timestamp`,
    );
  }
  if (fd.format !== undefined && !FORMATS.has(fd.format)) {
    fail(`Unknown format "${String(fd.format)}" for ${where}: use email, url or iso-date`);
  }
  if (fd.enum !== undefined && !Array.isArray(fd.enum)) fail(`enum of ${where} must be an array`);
  for (const opt of ['min', 'max', 'minLength', 'maxLength'] as const) {
    const v = fd[opt];
    if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v)))
      fail(`${opt} of ${where} must be a number`);
  }
  if ((fd.minLength ?? 0) < 0 || (fd.maxLength ?? 0) < 0)
    fail(`minLength/maxLength of ${where} must not be negative`);
  if (fd.min !== undefined && fd.max !== undefined && fd.min > fd.max)
    fail(`min of ${where} is greater than max`);
  if (fd.pattern !== undefined) {
    if (typeof fd.pattern !== 'string') fail(`pattern of ${where} must be a string`);
    try {
      new RegExp(fd.pattern);
    } catch (e) {
      fail(`Invalid pattern for ${where}: ${(e as Error).message}`);
    }
  }
  if (fd.validate !== undefined && typeof fd.validate !== 'function')
    fail(`validate of ${where} must be a function`);
  if (fd.onDelete !== undefined && fd.ref === undefined) fail(`onDelete of ${where} needs ref`);
  if (fd.properties !== undefined) {
    if (fd.type !== 'object') fail(`properties of ${where} need type "object"`);
    checkSchema(bucket, fd.properties, path, fail);
  }
  if (fd.items !== undefined) {
    if (fd.type !== 'array') fail(`items of ${where} need type "array"`);
    checkField(bucket, `${path}[]`, fd.items, fail);
  }
}
