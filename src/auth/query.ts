// r2d2's maildrop_query_format_string, compiled once into SQL with bound `?` parameters.
//
// Substitutions: %u user as given, %l local part, %d domain, %p password, %r remote address, %% a
// percent. No substituted value ever becomes SQL text: a quoted literal that holds a substitution
// (`"%u"`, `'%p'`, `'%l@%d'`) is replaced by ONE `?` whose value is the literal's text with the
// values filled in, so the quotes r2d2-style strings put around a substitution are absorbed and
// a composed literal stays one string on every SQL dialect (no CONCAT vs ||). A bare %u outside
// quotes becomes `?` too.
//
// Literals: '...' and "..." with a doubled quote as the escape (`'it''s'`); backslash escapes are not
// interpreted. Backtick identifiers and comments (`-- `, `#`, `/* */`) are copied as they are and may
// not hold a substitution. A `?` written in the format string outside a literal is refused (it would
// shift the parameters); one inside a literal turns that literal into a bound parameter too, so a
// client-side formatter can never mistake it for a placeholder.

export type Variable = 'user' | 'local' | 'domain' | 'password' | 'remote';

export type QueryValues = Readonly<Record<Variable, string>>;

/** A bound parameter: literal text and variables, joined at bind time. */
export type ParamPart = string | { readonly v: Variable };

export interface CompiledQuery {
  /** The format string it came from. */
  readonly format: string;
  /** SQL with `?` placeholders only. */
  readonly sql: string;
  /** One entry per `?`, in order. */
  readonly params: readonly (readonly ParamPart[])[];
  /** Variables the query uses (e.g. APOP cannot work when it needs `password`). */
  readonly uses: ReadonlySet<Variable>;
  /** Parameter values for one execution. */
  bind(values: QueryValues): string[];
}

export class QueryFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryFormatError';
  }
}

const LETTERS: Readonly<Record<string, Variable>> = {
  u: 'user',
  l: 'local',
  d: 'domain',
  p: 'password',
  r: 'remote',
};

const cache = new Map<string, CompiledQuery>();
// A reload with a new string adds one entry; the bound only guards against a config churning forever.
const CACHE_MAX = 64;

/** Compile (or fetch from the per-string cache). Throws QueryFormatError with the position. */
export function compileQuery(format: string): CompiledQuery {
  let q = cache.get(format);
  if (q === undefined) {
    q = compile(format);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(format, q);
  }
  return q;
}

/** Split a login name at its last `@`; without one the domain is empty. */
export function splitAddress(user: string): { local: string; domain: string } {
  const at = user.lastIndexOf('@');
  return at < 0 ? { local: user, domain: '' } : { local: user.slice(0, at), domain: user.slice(at + 1) };
}

/** The full value set for a login: local part and domain derived from the user. */
export function loginValues(user: string, password: string, remote: string): QueryValues {
  const { local, domain } = splitAddress(user);
  return { user, local, domain, password, remote };
}

function compile(format: string): CompiledQuery {
  let sql = '';
  const params: ParamPart[][] = [];
  const uses = new Set<Variable>();
  const n = format.length;
  let i = 0;

  // A `%` escape at i: returns the variable (or '%' for `%%`) and consumes two characters.
  const percent = (at: number): Variable | '%' => {
    const c = format[at + 1];
    if (c === '%') return '%';
    const v = c === undefined ? undefined : LETTERS[c];
    if (v === undefined) {
      const what = c === undefined ? 'a lone % at the end' : `unknown escape %${c}`;
      throw new QueryFormatError(
        `${what} at offset ${at} (known: %u %l %d %p %r, and %% for a percent sign)`,
      );
    }
    return v;
  };

  // Copies a span that may not hold substitutions (identifier, comment), unescaping %%.
  const opaque = (start: number, end: number, what: string): void => {
    for (let k = start; k < end; k++) {
      if (format[k] !== '%') {
        sql += format[k];
        continue;
      }
      if (percent(k) !== '%') {
        throw new QueryFormatError(`substitution at offset ${k} inside ${what}: only values can be bound`);
      }
      sql += '%';
      k++;
    }
  };

  while (i < n) {
    const c = format[i];
    if (c === "'" || c === '"') {
      // Find the closing quote (a doubled quote is an escaped one).
      const parts: ParamPart[] = [];
      let text = '';
      let raw = c;
      let bound = false;
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new QueryFormatError(`unterminated ${c} literal starting at offset ${i}`);
        const d = format[j];
        if (d === c) {
          if (format[j + 1] === c) {
            text += c;
            raw += c + c;
            j += 2;
            continue;
          }
          raw += c;
          j++;
          break;
        }
        if (d === '%') {
          const v = percent(j);
          if (v === '%') {
            text += '%';
            raw += '%';
          } else {
            if (text) parts.push(text);
            text = '';
            parts.push({ v });
            uses.add(v);
            bound = true;
          }
          j += 2;
          continue;
        }
        if (d === '?') bound = true;
        text += d;
        raw += d;
        j++;
      }
      if (bound) {
        if (text) parts.push(text);
        sql += '?';
        params.push(parts);
      } else {
        sql += raw;
      }
      i = j;
      continue;
    }
    if (c === '`') {
      const end = format.indexOf('`', i + 1);
      if (end < 0) throw new QueryFormatError(`unterminated \` identifier starting at offset ${i}`);
      opaque(i, end + 1, 'a `quoted` identifier');
      i = end + 1;
      continue;
    }
    if ((c === '-' && format[i + 1] === '-') || c === '#') {
      let end = format.indexOf('\n', i);
      if (end < 0) end = n;
      opaque(i, end, 'a comment');
      i = end;
      continue;
    }
    if (c === '/' && format[i + 1] === '*') {
      const close = format.indexOf('*/', i + 2);
      if (close < 0) throw new QueryFormatError(`unterminated /* comment starting at offset ${i}`);
      opaque(i, close + 2, 'a comment');
      i = close + 2;
      continue;
    }
    if (c === '?') {
      throw new QueryFormatError(
        `a bare ? at offset ${i}: write substitutions (%u ...) instead, they are bound for you`,
      );
    }
    if (c === '%') {
      const v = percent(i);
      if (v === '%') {
        sql += '%';
      } else {
        sql += '?';
        params.push([{ v }]);
        uses.add(v);
      }
      i += 2;
      continue;
    }
    sql += c;
    i++;
  }

  const frozen = params.map((p) => Object.freeze(p));
  return Object.freeze({
    format,
    sql,
    params: Object.freeze(frozen),
    uses,
    bind(values: QueryValues): string[] {
      const out = new Array<string>(frozen.length);
      for (let k = 0; k < frozen.length; k++) {
        const p = frozen[k];
        // The common case (one variable, no text) without building a string.
        if (p.length === 1) {
          const only = p[0];
          out[k] = typeof only === 'string' ? only : values[only.v];
          continue;
        }
        let s = '';
        for (const part of p) s += typeof part === 'string' ? part : values[part.v];
        out[k] = s;
      }
      return out;
    },
  });
}
