/**
 * HTTP trigger routing with the Functions host's route templates (ASP.NET style): `{name}`,
 * optional `{name?}`, catch-all `{*rest}`, and the common constraints (`{id:int}`, `{id:guid}`, …),
 * on top of find-my-way. The route prefix comes from host.json (`extensions.http.routePrefix`).
 */
import findMyWay, { type HTTPMethod } from 'find-my-way';

export interface RouteMatch<T> {
  target: T;
  params: Record<string, string>;
}

const CONSTRAINTS: Record<string, RegExp> = {
  int: /^-?\d+$/,
  long: /^-?\d+$/,
  guid: /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i,
  bool: /^(true|false)$/i,
  alpha: /^[a-z]+$/i,
  double: /^-?\d+(\.\d+)?$/,
  decimal: /^-?\d+(\.\d+)?$/,
};

const ALL_METHODS: HTTPMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

interface Entry<T> {
  target: T;
  constraints: Record<string, RegExp>;
  catchAll: string;
}

export class RouteTable<T> {
  private readonly router = findMyWay({
    caseSensitive: false,
    ignoreTrailingSlash: true,
    ignoreDuplicateSlashes: true,
    // ASP.NET routing has no per-parameter limit (find-my-way's default is 100): a 256-character
    // operation id must reach the function, which validates it. The request line is bounded anyway.
    maxParamLength: 8192,
  });

  constructor(private readonly prefix: string) {}

  /** Adds a function route; returns the public path for the banner. */
  add(template: string, methods: string[] | undefined, target: T): string {
    const constraints: Record<string, RegExp> = {};
    let catchAll = 'rest';
    const segments = template
      .replace(/^\/+|\/+$/g, '')
      .split('/')
      .map((segment) =>
        segment.replace(
          /\{(\*)?([A-Za-z0-9_]+)(?::([a-z]+)(?:\([^)]*\))?)?(\?)?\}/g,
          (
            _m,
            star: string | undefined,
            name: string,
            constraint: string | undefined,
            optional: string | undefined,
          ) => {
            if (constraint && CONSTRAINTS[constraint]) constraints[name] = CONSTRAINTS[constraint];
            if (star) {
              catchAll = name;
              return '*';
            }
            return `:${name}${optional ? '?' : ''}`;
          },
        ),
      );
    const path = `/${[this.prefix, ...segments].filter(Boolean).join('/')}`;
    const entry: Entry<T> = { target, constraints, catchAll };
    const verbs =
      methods && methods.length > 0 ? methods.map((m) => m.toUpperCase() as HTTPMethod) : ALL_METHODS;
    for (const verb of verbs) this.router.on(verb, path, () => undefined, entry);
    return path;
  }

  match(method: string, path: string): RouteMatch<T> | 'methodNotAllowed' | undefined {
    const found = this.router.find(method.toUpperCase() as HTTPMethod, path);
    if (!found) {
      const other = ALL_METHODS.some((m) => this.router.find(m, path));
      return other ? 'methodNotAllowed' : undefined;
    }
    const entry = found.store as Entry<T>;
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(found.params)) {
      if (value === undefined) continue;
      const name = key === '*' ? entry.catchAll : key;
      params[name] = value;
    }
    for (const [name, pattern] of Object.entries(entry.constraints)) {
      if (params[name] !== undefined && !pattern.test(params[name])) return undefined;
    }
    return { target: entry.target, params };
  }
}
