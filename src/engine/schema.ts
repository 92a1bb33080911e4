// Record validation: generated values, defaults, metadata and the schema
// checks, with every issue of a record collected into one ValidationError.
import { ValidationError, type ValidationIssue } from './errors.js';
import type { FieldDefinition, FieldType, FormatType, SchemaDefinition } from './types.js';
import {
  DEFAULT_MAX_NESTING_DEPTH,
  describeType,
  findUnstorable,
  generateCuid,
  generateUuid,
  isValidEmail,
  isValidIsoDate,
  isValidUrl,
} from './values.js';

const MAX_NESTING_DEPTH = 10;

type Rec = Record<string, unknown>;

/** Checks one present (non-null) value; pushes what is wrong onto `issues`. */
type ValueCheck = (value: unknown, path: string, issues: ValidationIssue[], depth: number, root: Rec) => void;

interface CompiledField {
  readonly name: string;
  readonly def: FieldDefinition;
  readonly required: boolean;
  /** Every rule of the definition, compiled once (type, enum set, lengths, pattern, format, …). */
  readonly check: ValueCheck;
}

/** Fields whose values the store controls; `update` ignores attempts to set them. */
const META_FIELDS = ['_version', '_createdAt', '_updatedAt'] as const;

export class SchemaValidator {
  readonly #bucket: string;
  readonly #fields: CompiledField[];
  readonly #generated: CompiledField[];
  readonly #defaults: CompiledField[];
  readonly #keyFields: readonly string[];
  readonly #protectedOnUpdate: readonly string[];
  readonly #recordValidate: ((record: Rec) => string[] | undefined) | undefined;
  /** Fields with `generated: 'autoincrement'`. */
  readonly autoincrementFields: readonly string[];
  /**
   * Makes the empty objects inserted records are copied into: plain objects
   * (prototype Object.prototype), but from a constructor of this bucket's
   * own, so V8 sizes them for this bucket's records and keeps every field
   * inside the object (a `{}` literal has room for four; the rest would go
   * to a separately allocated, regrown property array).
   */
  readonly #Record: new () => Rec;

  constructor(
    bucket: string,
    schema: SchemaDefinition,
    keyFields: readonly string[],
    recordValidate?: (record: Rec) => string[] | undefined,
  ) {
    this.#bucket = bucket;
    this.#fields = compileSchema(schema);
    this.#generated = this.#fields.filter((f) => f.def.generated != null);
    this.#defaults = this.#fields.filter((f) => f.def.default !== undefined);
    this.#keyFields = keyFields;
    this.#protectedOnUpdate = [...META_FIELDS, ...keyFields, ...this.#generated.map((f) => f.name)];
    this.#recordValidate = recordValidate;
    this.autoincrementFields = this.#generated
      .filter((f) => f.def.generated === 'autoincrement')
      .map((f) => f.name);
    const Shape = function BucketRecord() {} as unknown as new () => Rec;
    Shape.prototype = Object.prototype;
    this.#Record = Shape;
  }

  /** Generated values, defaults and metadata; then validation. Does not touch the input. */
  prepareInsert(
    input: Rec,
    nextAutoincrement: () => number,
    now: number,
    maxDepth = DEFAULT_MAX_NESTING_DEPTH,
  ): Rec {
    // Copying would turn an own "__proto__" key into the copy's prototype: refuse it first.
    if (Object.hasOwn(input, '__proto__')) this.#protoKey();
    // Object.assign, not spread: V8 makes adding properties to a spread copy ~1 µs each.
    const record: Rec = Object.assign(new this.#Record(), input);
    for (const f of this.#generated) {
      if (record[f.name] === undefined) {
        switch (f.def.generated) {
          case 'uuid':
            record[f.name] = generateUuid();
            break;
          case 'cuid':
            record[f.name] = generateCuid();
            break;
          case 'timestamp':
            record[f.name] = now;
            break;
          case 'autoincrement':
            record[f.name] = nextAutoincrement();
            break;
        }
      }
    }
    for (const f of this.#defaults) {
      if (record[f.name] === undefined) {
        const d = f.def.default;
        record[f.name] = typeof d === 'function' ? (d as () => unknown)() : d;
      }
    }
    record._version = 1;
    // null first: a field V8 first sees holding a number gets an unboxed
    // "double" slot, which stores a private copy of the number per record
    // (16 B each). Holding null first makes the slot a plain reference, so
    // both timestamps (and every record of the same millisecond, see
    // commitTime) share one number.
    record._createdAt = null;
    record._updatedAt = null;
    record._createdAt = now;
    record._updatedAt = now;
    this.#check(record, record, maxDepth);
    return record;
  }

  /** Merge changes (minus key, generated and meta fields), bump version, validate. */
  prepareUpdate(existing: Rec, changes: Rec, now: number, maxDepth = DEFAULT_MAX_NESTING_DEPTH): Rec {
    if (Object.hasOwn(changes, '__proto__')) this.#protoKey();
    // Copied into this bucket's record shape (as prepareInsert does), so
    // updated records keep the hidden class of inserted ones: a spread copy
    // would move them to another shape family, slower to make and making
    // every read of the bucket's records polymorphic.
    const merged: Rec = Object.assign(new this.#Record(), existing);
    for (const k in changes) {
      if (!Object.hasOwn(changes, k) || this.#protectedOnUpdate.includes(k)) continue;
      merged[k] = changes[k];
    }
    merged._version = (existing._version as number) + 1;
    merged._updatedAt = now;
    // The stored part was checked when it was written: only the changes need the storable walk.
    this.#check(merged, changes, maxDepth);
    return merged;
  }

  #protoKey(): never {
    throw new ValidationError(this.#bucket, [
      { field: '__proto__', message: '"__proto__" cannot be a field name', code: 'proto_key' },
    ]);
  }

  /** Schema checks, and that every value can be stored (see findUnstorable). */
  validate(record: Rec, maxDepth = DEFAULT_MAX_NESTING_DEPTH): void {
    this.#check(record, record, maxDepth);
  }

  #check(record: Rec, fresh: Rec, maxDepth: number): void {
    const issues: ValidationIssue[] = [];
    const unstorable = findUnstorable(fresh, maxDepth);
    for (const k of this.#keyFields) {
      const v = record[k];
      if (v === undefined || v === null) {
        if (!this.#fields.some((f) => f.name === k && f.def.required === true)) {
          issues.push({ field: k, message: 'Key field is required', code: 'required' });
        }
      } else if (!((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'string')) {
        issues.push({
          field: k,
          message: `Key must be a string or a finite number, got ${describeType(v)}`,
          code: 'type',
        });
      }
    }
    validateFields(this.#fields, record, '', issues, 0, record);
    // A record validator is user code: it is not handed a circular or unstorable record.
    if (this.#recordValidate !== undefined && unstorable === undefined) {
      const errors = this.#recordValidate(record);
      if (errors != null)
        for (const message of errors) issues.push({ field: '_record', message, code: 'custom' });
    }
    // The schema's own walk is depth-bounded, so a cycle or a deep value cannot overflow it.
    if (unstorable !== undefined && !issues.some((i) => i.field === unstorable.field))
      issues.push(unstorable);
    if (issues.length > 0) throw new ValidationError(this.#bucket, issues);
  }
}

function compileSchema(schema: SchemaDefinition): CompiledField[] {
  return Object.entries(schema).map(([name, def]) => compileField(name, def));
}

function compileField(name: string, def: FieldDefinition): CompiledField {
  return { name, def, required: def.required === true, check: compileCheck(def) };
}

/**
 * One definition's rules as a single check, built once per definition: the
 * enum becomes a Set, messages are formatted ahead, and rules the
 * definition does not have cost nothing. Issues come in the order type,
 * enum, string rules (minLength, maxLength, pattern, format) or number rules
 * (min, max), custom validate, nested properties, array items.
 */
function compileCheck(def: FieldDefinition): ValueCheck {
  const type = def.type;
  const rules: ValueCheck[] = [];
  if (def.enum != null) {
    const allowed = new Set(def.enum);
    const message = `Value must be one of: ${def.enum.map(String).join(', ')}`;
    rules.push((v, path, issues) => {
      if (!allowed.has(v)) issues.push({ field: path, message, code: 'enum' });
    });
  }
  const stringRules: ValueCheck[] = [];
  if (def.minLength != null) {
    const min = def.minLength;
    const message = `Minimum length is ${min}`;
    stringRules.push((v, path, issues) => {
      if ((v as string).length < min) issues.push({ field: path, message, code: 'minLength' });
    });
  }
  if (def.maxLength != null) {
    const max = def.maxLength;
    const message = `Maximum length is ${max}`;
    stringRules.push((v, path, issues) => {
      if ((v as string).length > max) issues.push({ field: path, message, code: 'maxLength' });
    });
  }
  if (def.pattern != null) {
    const pattern = new RegExp(def.pattern);
    const message = `Value must match pattern "${def.pattern}"`;
    stringRules.push((v, path, issues) => {
      if (!pattern.test(v as string)) issues.push({ field: path, message, code: 'pattern' });
    });
  }
  if (def.format != null) {
    const format = def.format;
    const message = `Invalid ${format} format`;
    stringRules.push((v, path, issues) => {
      if (!matchesFormat(v as string, format)) issues.push({ field: path, message, code: 'format' });
    });
  }
  if (stringRules.length > 0) {
    const run = sequence(stringRules);
    rules.push((v, path, issues, depth, root) => {
      if (typeof v === 'string') run(v, path, issues, depth, root);
    });
  }
  const numberRules: ValueCheck[] = [];
  if (def.min != null) {
    const min = def.min;
    const message = `Minimum value is ${min}`;
    numberRules.push((v, path, issues) => {
      if ((v as number) < min) issues.push({ field: path, message, code: 'min' });
    });
  }
  if (def.max != null) {
    const max = def.max;
    const message = `Maximum value is ${max}`;
    numberRules.push((v, path, issues) => {
      if ((v as number) > max) issues.push({ field: path, message, code: 'max' });
    });
  }
  if (numberRules.length > 0) {
    const run = sequence(numberRules);
    rules.push((v, path, issues, depth, root) => {
      if (typeof v === 'number') run(v, path, issues, depth, root);
    });
  }
  if (def.validate != null) {
    const validate = def.validate;
    rules.push((v, path, issues, _depth, root) => {
      let error: string | undefined;
      try {
        error = validate(v, root);
      } catch (e) {
        error = `validator threw: ${e instanceof Error ? e.message : String(e)}`;
      }
      if (error !== undefined) issues.push({ field: path, message: error, code: 'custom' });
    });
  }
  if (def.properties != null && type === 'object') {
    const properties = compileSchema(def.properties);
    rules.push((v, path, issues, depth, root) => {
      validateFields(properties, v as Rec, path, issues, depth + 1, root);
    });
  }
  if (def.items != null && type === 'array') {
    const item = compileCheck(def.items);
    rules.push((v, path, issues, depth, root) => {
      if (depth >= MAX_NESTING_DEPTH) return;
      const list = v as unknown[];
      for (let i = 0; i < list.length; i++) {
        const x = list[i];
        if (x === undefined || x === null) continue;
        item(x, `${path}[${i}]`, issues, depth + 1, root);
      }
    });
  }
  const typeOk = TYPE_CHECKS[type];
  const typeMessage = `Expected type "${type}", got `;
  const run = sequence(rules);
  return (v, path, issues, depth, root) => {
    if (!typeOk(v)) {
      issues.push({ field: path, message: typeMessage + describeType(v), code: 'type' });
      return;
    }
    run(v, path, issues, depth, root);
  };
}

const NO_RULES: ValueCheck = () => {};

/** Rules run one after another (no loop for the common one- and two-rule cases). */
function sequence(rules: readonly ValueCheck[]): ValueCheck {
  if (rules.length === 0) return NO_RULES;
  if (rules.length === 1) return rules[0]!;
  if (rules.length === 2) {
    const [a, b] = rules as [ValueCheck, ValueCheck];
    return (v, path, issues, depth, root) => {
      a(v, path, issues, depth, root);
      b(v, path, issues, depth, root);
    };
  }
  return (v, path, issues, depth, root) => {
    for (let i = 0; i < rules.length; i++) rules[i]!(v, path, issues, depth, root);
  };
}

function validateFields(
  fields: CompiledField[],
  record: Rec,
  prefix: string,
  issues: ValidationIssue[],
  depth: number,
  root: Rec,
): void {
  if (depth > MAX_NESTING_DEPTH) return;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const value = record[f.name];
    if (value === undefined || value === null) {
      if (f.required)
        issues.push({
          field: prefix ? `${prefix}.${f.name}` : f.name,
          message: 'Field is required',
          code: 'required',
        });
      continue;
    }
    f.check(value, prefix ? `${prefix}.${f.name}` : f.name, issues, depth, root);
  }
}

const TYPE_CHECKS: Record<FieldType, (value: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  number: (v) => typeof v === 'number' && !Number.isNaN(v),
  boolean: (v) => typeof v === 'boolean',
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  array: (v) => Array.isArray(v),
  date: (v) => {
    if (v instanceof Date) return !Number.isNaN(v.getTime());
    if (typeof v === 'number') return !Number.isNaN(v);
    return typeof v === 'string';
  },
};

function matchesFormat(value: string, format: FormatType): boolean {
  switch (format) {
    case 'email':
      return isValidEmail(value);
    case 'url':
      return isValidUrl(value);
    case 'iso-date':
      return isValidIsoDate(value);
  }
}
