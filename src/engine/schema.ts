// Record validation: generated values, defaults, metadata and the schema
// checks, with every issue of a record collected into one ValidationError.
import { ValidationError, type ValidationIssue } from './errors.js';
import type { FieldDefinition, FieldType, FormatType, SchemaDefinition } from './types.js';
import {
  DEFAULT_MAX_NESTING_DEPTH,
  describeType,
  fieldObjectStorable,
  findUnstorable,
  generateCuid,
  generateUuid,
  isValidEmail,
  isValidIsoDate,
  isValidUrl,
} from './values.js';

const MAX_NESTING_DEPTH = 10;

type Rec = Record<string, unknown>;

/** A definition's rules, prepared once (compileRules). */
export interface CompiledRules {
  readonly type: FieldType;
  /** The start of the issue message for a value of another type. */
  readonly typeMessage: string;
  readonly enumSet: ReadonlySet<unknown> | undefined;
  readonly enumMessage: string;
  readonly minLength: number | undefined;
  readonly maxLength: number | undefined;
  readonly pattern: RegExp | undefined;
  readonly patternMessage: string;
  readonly format: FormatType | undefined;
  readonly min: number | undefined;
  readonly max: number | undefined;
  readonly validate: FieldDefinition['validate'];
  readonly properties: CompiledField[] | undefined;
  readonly items: CompiledRules | undefined;
  /** Only the type to check (most fields): nothing else to look at. */
  readonly plain: boolean;
}

interface CompiledField extends CompiledRules {
  readonly name: string;
  readonly def: FieldDefinition;
  readonly required: boolean;
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
  /**
   * Per field: its rules judge the value alone (no custom validator, which
   * is handed the whole record; no nested rules), so a value that passed
   * once passes again.
   */
  readonly #valueOnly: boolean[];
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
  readonly #shape: RecordShape;
  /** #check of a whole inserted record, compiled for this definition (see compileWholeCheck). */
  readonly #whole: CompiledWholeCheck | undefined;

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
    this.#valueOnly = this.#fields.map(
      (f) => f.validate === undefined && f.properties === undefined && f.items === undefined,
    );
    this.autoincrementFields = this.#generated
      .filter((f) => f.def.generated === 'autoincrement')
      .map((f) => f.name);
    this.#shape = recordShapeFor(this.#fields);
    this.#Record = this.#shape.Record;
    // A record validator is handed every record: the compiled check does not call it.
    this.#whole = recordValidate === undefined ? compileWholeCheck(this.#fields, keyFields) : undefined;
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
    const whole = this.#whole;
    if (whole === undefined || !whole.passes(record, maxDepth, whole.constants))
      this.#check(record, record, maxDepth);
    const shape = this.#shape;
    if (shape.anchor === undefined) shape.anchor = Object.assign(new this.#Record(), record);
    return record;
  }

  /**
   * Merge changes (minus key, generated and meta fields), bump version,
   * validate. `existingValid`: `existing` passed this validator (the
   * bucket's records all did, see BucketState.recordsValid), so fields it
   * leaves as they were need no second look (reading them would touch
   * memory the update does not otherwise need).
   */
  prepareUpdate(
    existing: Rec,
    changes: Rec,
    now: number,
    maxDepth = DEFAULT_MAX_NESTING_DEPTH,
    existingValid = false,
  ): Rec {
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
    if (existingValid && this.#recordValidate === undefined)
      this.#checkChanged(merged, existing, changes, maxDepth);
    else this.#check(merged, changes, maxDepth);
    return merged;
  }

  /**
   * #check of an update of a valid record: the fields whose value changed
   * (and those not judged by their value alone) pass, and the changes can be
   * stored; any doubt is settled by #check itself, so errors are the same.
   */
  #checkChanged(record: Rec, existing: Rec, changes: Rec, maxDepth: number): void {
    const fields = this.#fields;
    const valueOnly = this.#valueOnly;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = record[f.name];
      if (v === existing[f.name] && valueOnly[i]) continue;
      if (v === undefined || v === null ? f.required : !fieldPasses(f, v)) {
        this.#check(record, changes, maxDepth);
        return;
      }
    }
    if (findUnstorable(changes, maxDepth) !== undefined) this.#check(record, changes, maxDepth);
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

  /** The compiled check of inserted records, for tests: undefined when this definition has none. */
  get wholeCheck(): ((record: Rec, maxDepth: number) => boolean) | undefined {
    const whole = this.#whole;
    return whole && ((record, maxDepth) => whole.passes(record, maxDepth, whole.constants));
  }

  #check(record: Rec, fresh: Rec, maxDepth: number): void {
    const unstorable = findUnstorable(fresh, maxDepth);
    const keyFields = this.#keyFields;
    for (let i = 0; i < keyFields.length; i++) {
      const v = record[keyFields[i]!];
      if (!((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'string')) {
        this.#checkSlow(record, unstorable);
        return;
      }
    }
    // The common case: each field's rules pass (fieldPasses), nothing allocated;
    // otherwise the issues are collected as they always were.
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = record[f.name];
      if (v === undefined || v === null ? f.required : !fieldPasses(f, v)) {
        this.#checkSlow(record, unstorable);
        return;
      }
    }
    this.#finish(record, unstorable, NO_ISSUES);
  }

  /** Every issue of the record, in the order they were always reported. */
  #checkSlow(record: Rec, unstorable: ValidationIssue | undefined): void {
    const issues: ValidationIssue[] = [];
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
    this.#finish(record, unstorable, issues);
  }

  /** The record validator, the storability issue, and the verdict. */
  #finish(record: Rec, unstorable: ValidationIssue | undefined, found: ValidationIssue[]): void {
    let issues = found;
    // A record validator is user code: it is not handed a circular or unstorable record.
    if (this.#recordValidate !== undefined && unstorable === undefined) {
      const errors = this.#recordValidate(record);
      if (errors != null)
        for (const message of errors) {
          if (issues === NO_ISSUES) issues = [];
          issues.push({ field: '_record', message, code: 'custom' });
        }
    }
    if (unstorable === undefined && issues.length === 0) return;
    // The schema's own walk is depth-bounded, so a cycle or a deep value cannot overflow it.
    if (unstorable !== undefined && !issues.some((i) => i.field === unstorable.field))
      issues = [...issues, unstorable];
    throw new ValidationError(this.#bucket, issues);
  }
}

/**
 * Whether #check(record, record) would find nothing wrong with a record
 * prepareInsert made (its metadata are the store's own, not looked at):
 * true means it passes; false means look with #check (which says what is
 * wrong). Compiled once per definition into straight-line code: each
 * field read by name (one hidden class, no lookup by a varying key), its
 * rules as constants, and the storability walk reduced to what the types
 * leave open (array and object fields, keys outside the schema).
 */
interface CompiledWholeCheck {
  /**
   * The code: one function per field list and rule kinds, shared by every
   * definition with them (see WHOLE_CHECKS), so code V8 optimised for one
   * store's bucket serves the next; `c` holds this definition's rule values.
   */
  readonly passes: (record: Rec, maxDepth: number, c: readonly unknown[]) => boolean;
  readonly constants: readonly unknown[];
}

/** Compiled whole checks by their source, kept for the life of the process (bounded as record shapes are). */
const WHOLE_CHECKS = new Map<string, CompiledWholeCheck['passes']>();

/**
 * compileWholeCheck's code for one field `v`: false when fieldPasses would
 * be false, or when the value cannot be stored (findUnstorable's rule for a
 * top-level value of this type).
 */
function wholeCheckOfField(f: CompiledField, v: string, constant: (x: unknown) => string): string {
  const out: string[] = [];
  switch (f.type) {
    case 'string':
      out.push(`if (typeof ${v} !== 'string') return false;`);
      break;
    case 'number':
      // Also finite: NaN fails the type, Infinity cannot be stored.
      out.push(`if (typeof ${v} !== 'number' || !(${v} - ${v} === 0)) return false;`);
      break;
    case 'boolean':
      out.push(`if (typeof ${v} !== 'boolean') return false;`);
      break;
    case 'array':
      out.push(`if (!Array.isArray(${v}) || !storable(${v}, maxDepth)) return false;`);
      break;
    case 'object':
      out.push(
        `if (typeof ${v} !== 'object' || Array.isArray(${v}) || !storable(${v}, maxDepth)) return false;`,
      );
      break;
    case 'date':
      out.push(
        `if (!(${v} instanceof Date ? !Number.isNaN(${v}.getTime()) : typeof ${v} === 'number' ? ${v} - ${v} === 0 : typeof ${v} === 'string')) return false;`,
      );
      break;
    default:
      return 'return false;';
  }
  if (f.enumSet !== undefined) out.push(`if (!${constant(f.enumSet)}.has(${v})) return false;`);
  const stringRules: string[] = [];
  if (f.minLength !== undefined)
    stringRules.push(`if (${v}.length < ${constant(f.minLength)}) return false;`);
  if (f.maxLength !== undefined)
    stringRules.push(`if (${v}.length > ${constant(f.maxLength)}) return false;`);
  if (f.pattern !== undefined) stringRules.push(`if (!${constant(f.pattern)}.test(${v})) return false;`);
  if (f.format !== undefined)
    stringRules.push(`if (!${constant(FORMAT_CHECKS[f.format])}(${v})) return false;`);
  if (stringRules.length > 0) out.push(`if (typeof ${v} === 'string') { ${stringRules.join(' ')} }`);
  const numberRules: string[] = [];
  if (f.min !== undefined) numberRules.push(`if (${v} < ${constant(f.min)}) return false;`);
  if (f.max !== undefined) numberRules.push(`if (${v} > ${constant(f.max)}) return false;`);
  if (numberRules.length > 0) out.push(`if (typeof ${v} === 'number') { ${numberRules.join(' ')} }`);
  return out.join('\n');
}

/**
 * The whole check of a field list, or undefined where #check stays the only
 * way: fields with custom validators or nested rules (checkValue's), field
 * names that are also metadata or Object.prototype properties, or a
 * runtime that refuses to compile code from strings.
 */
export function compileWholeCheck(
  fields: readonly CompiledField[],
  keyFields: readonly string[],
): CompiledWholeCheck | undefined {
  for (const f of fields) {
    if (f.validate !== undefined || f.properties !== undefined || f.items !== undefined) return undefined;
    if (f.name in Object.prototype || (META_FIELDS as readonly string[]).includes(f.name)) return undefined;
  }
  const constants: unknown[] = [];
  const constant = (x: unknown) => `c[${constants.push(x) - 1}]`;
  const body: string[] = [];
  keyFields.forEach((k, i) => {
    body.push(
      `const k${i} = r[${JSON.stringify(k)}];`,
      `if (typeof k${i} !== 'string' && !(typeof k${i} === 'number' && k${i} - k${i} === 0)) return false;`,
    );
  });
  fields.forEach((f, i) => {
    const v = `v${i}`;
    body.push(
      `const ${v} = r[${JSON.stringify(f.name)}];`,
      `if (${v} === undefined || ${v} === null) { ${f.required ? 'return false;' : ''} } else {`,
      wholeCheckOfField(f, v, constant),
      '}',
    );
  });
  // Every key was judged above, or is metadata the store just set: then the
  // record can be stored. Keys usually come in schema order (one comparison each).
  const order = [...fields.map((f) => f.name), ...META_FIELDS];
  body.push(
    'let j = 0;',
    'for (const k in r) {',
    '  if (k === order[j]) { j++; continue; }',
    '  if (!known.has(k)) return findUnstorable(r, maxDepth) === undefined;',
    '}',
    'return true;',
  );
  const source = body.join('\n');
  let passes = WHOLE_CHECKS.get(source);
  if (passes === undefined) {
    try {
      const make = new Function(
        'order',
        'known',
        'storable',
        'findUnstorable',
        `return function wholeRecordPasses(r, maxDepth, c) {\n${source}\n};`,
      );
      passes = make(
        order,
        new Set(order),
        fieldObjectStorable,
        findUnstorable,
      ) as CompiledWholeCheck['passes'];
    } catch {
      // Code generation from strings disallowed (--disallow-code-generation-from-strings).
      return undefined;
    }
    if (WHOLE_CHECKS.size < MAX_SHARED_SHAPES) WHOLE_CHECKS.set(source, passes);
  }
  return { passes, constants };
}

/**
 * How one field list's records are made. Buckets whose schemas list the
 * same fields share one, so their records share hidden classes: code V8 has
 * optimised for one bucket's records stays valid for the next bucket of the
 * same shape (a bucket defined again, a store restarted in the same process).
 */
interface RecordShape {
  readonly Record: new () => Rec;
  /**
   * A copy of the first record made, kept so its hidden class lives on:
   * V8 holds the hidden classes of added properties weakly, and when every
   * record of a shape is gone (a bucket emptied, a store stopped) it drops
   * them, throws away the code optimised for them and learns them again
   * from the next record, costing the first few thousand writes ~10 µs each.
   */
  anchor: Rec | undefined;
  /** The first compiled field list of this shape, kept for the same reason (its objects' hidden classes). */
  readonly fields: readonly CompiledField[];
}

const recordShapes = new Map<string, RecordShape>();
/**
 * Shapes kept for the life of the process (each holds one record copy): a
 * program making ever new schemas gets unshared ones past this many.
 */
const MAX_SHARED_SHAPES = 256;

function recordShapeFor(fields: readonly CompiledField[]): RecordShape {
  const key = JSON.stringify(fields.map((f) => f.name));
  let shape = recordShapes.get(key);
  if (shape === undefined) {
    const Record = function bucketRecord() {} as unknown as new () => Rec;
    Record.prototype = Object.prototype;
    shape = { Record, anchor: undefined, fields };
    if (recordShapes.size < MAX_SHARED_SHAPES) recordShapes.set(key, shape);
  }
  return shape;
}

function compileSchema(schema: SchemaDefinition): CompiledField[] {
  return Object.entries(schema).map(([name, def]) => compileRules(def, name) as CompiledField);
}

/**
 * One definition's rules, prepared once: the enum as a Set, messages
 * formatted ahead, nested definitions compiled. checkValue applies them
 * inline, in the order type, enum, string rules (minLength, maxLength,
 * pattern, format) or number rules (min, max), custom validate, nested
 * properties, array items. A field's rules carry its name (`name` given);
 * every compiled rule is one object literal, so all share one hidden class
 * (a spread copy would make one per copy site, dropped when unused).
 */
export function compileRules(def: FieldDefinition, name = ''): CompiledRules {
  const type = def.type;
  const properties = def.properties != null && type === 'object' ? compileSchema(def.properties) : undefined;
  const items = def.items != null && type === 'array' ? compileRules(def.items) : undefined;
  const enumSet = def.enum != null ? new Set<unknown>(def.enum) : undefined;
  const pattern = def.pattern != null ? new RegExp(def.pattern) : undefined;
  const minLength = def.minLength ?? undefined;
  const maxLength = def.maxLength ?? undefined;
  const format = def.format ?? undefined;
  const min = def.min ?? undefined;
  const max = def.max ?? undefined;
  const validate = def.validate ?? undefined;
  const r: CompiledField = {
    type,
    typeMessage: `Expected type "${type}", got `,
    enumSet,
    enumMessage: enumSet !== undefined ? `Value must be one of: ${def.enum!.map(String).join(', ')}` : '',
    minLength,
    maxLength,
    pattern,
    patternMessage: pattern !== undefined ? `Value must match pattern "${def.pattern}"` : '',
    format,
    min,
    max,
    validate,
    properties,
    items,
    plain:
      enumSet === undefined &&
      minLength === undefined &&
      maxLength === undefined &&
      pattern === undefined &&
      format === undefined &&
      min === undefined &&
      max === undefined &&
      validate === undefined &&
      properties === undefined &&
      items === undefined,
    name,
    def,
    required: def.required === true,
  };
  return r;
}

/** The empty issue list of a record that passed every field (never pushed to). */
const NO_ISSUES: ValidationIssue[] = [];

/**
 * Whether checkValue would find nothing wrong with this present (non-null)
 * value, decided without collecting issues. Fields with a custom validator,
 * nested properties or item rules are left to checkValue (false), so user
 * validators run once, from there.
 */
export function fieldPasses(r: CompiledRules, v: unknown): boolean {
  switch (r.type) {
    case 'string':
      if (typeof v !== 'string') return false;
      break;
    case 'number':
      if (typeof v !== 'number' || Number.isNaN(v)) return false;
      break;
    case 'array':
      if (!Array.isArray(v)) return false;
      break;
    default:
      if (!TYPE_CHECKS[r.type](v)) return false;
  }
  if (r.plain) return true;
  if (r.validate !== undefined || r.properties !== undefined || r.items !== undefined) return false;
  if (r.enumSet !== undefined && !r.enumSet.has(v)) return false;
  if (typeof v === 'string') {
    if (r.minLength !== undefined && v.length < r.minLength) return false;
    if (r.maxLength !== undefined && v.length > r.maxLength) return false;
    if (r.pattern !== undefined && !r.pattern.test(v)) return false;
    if (r.format !== undefined && !matchesFormat(v, r.format)) return false;
  } else if (typeof v === 'number') {
    if (r.min !== undefined && v < r.min) return false;
    if (r.max !== undefined && v > r.max) return false;
  }
  return true;
}

/** The issues checkValue finds with a present value at the top of a record (fieldPasses' reference). */
export function fieldIssues(r: CompiledRules, v: unknown, root: Rec): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  checkValue(r, v, 'field', issues, 0, root);
  return issues;
}

/** Checks one present (non-null) value against its rules; pushes what is wrong onto `issues`. */
function checkValue(
  r: CompiledRules,
  v: unknown,
  path: string,
  issues: ValidationIssue[],
  depth: number,
  root: Rec,
): void {
  let typeOk: boolean;
  switch (r.type) {
    case 'string':
      typeOk = typeof v === 'string';
      break;
    case 'number':
      typeOk = typeof v === 'number' && !Number.isNaN(v);
      break;
    case 'array':
      typeOk = Array.isArray(v);
      break;
    default:
      typeOk = TYPE_CHECKS[r.type](v);
  }
  if (!typeOk) {
    issues.push({ field: path, message: r.typeMessage + describeType(v), code: 'type' });
    return;
  }
  if (r.plain) return;
  if (r.enumSet !== undefined && !r.enumSet.has(v))
    issues.push({ field: path, message: r.enumMessage, code: 'enum' });
  if (typeof v === 'string') {
    if (r.minLength !== undefined && v.length < r.minLength)
      issues.push({ field: path, message: `Minimum length is ${r.minLength}`, code: 'minLength' });
    if (r.maxLength !== undefined && v.length > r.maxLength)
      issues.push({ field: path, message: `Maximum length is ${r.maxLength}`, code: 'maxLength' });
    if (r.pattern !== undefined && !r.pattern.test(v))
      issues.push({ field: path, message: r.patternMessage, code: 'pattern' });
    if (r.format !== undefined && !matchesFormat(v, r.format))
      issues.push({ field: path, message: `Invalid ${r.format} format`, code: 'format' });
  } else if (typeof v === 'number') {
    if (r.min !== undefined && v < r.min)
      issues.push({ field: path, message: `Minimum value is ${r.min}`, code: 'min' });
    if (r.max !== undefined && v > r.max)
      issues.push({ field: path, message: `Maximum value is ${r.max}`, code: 'max' });
  }
  if (r.validate !== undefined) {
    let error: string | undefined;
    try {
      error = r.validate(v, root);
    } catch (e) {
      error = `validator threw: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (error !== undefined) issues.push({ field: path, message: error, code: 'custom' });
  }
  if (r.properties !== undefined) validateFields(r.properties, v as Rec, path, issues, depth + 1, root);
  if (r.items !== undefined && depth < MAX_NESTING_DEPTH) {
    const list = v as unknown[];
    for (let i = 0; i < list.length; i++) {
      const x = list[i];
      if (x === undefined || x === null) continue;
      checkValue(r.items, x, `${path}[${i}]`, issues, depth + 1, root);
    }
  }
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
    checkValue(f, value, prefix ? `${prefix}.${f.name}` : f.name, issues, depth, root);
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

const FORMAT_CHECKS: Record<FormatType, (value: string) => boolean> = {
  email: isValidEmail,
  url: isValidUrl,
  'iso-date': isValidIsoDate,
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
