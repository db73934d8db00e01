// ini ships no types; the part we use.
declare module 'ini' {
  export function parse(text: string): Record<string, unknown>;
  export function stringify(value: Record<string, unknown>): string;
  const ini: { parse: typeof parse; stringify: typeof stringify };
  export default ini;
}
