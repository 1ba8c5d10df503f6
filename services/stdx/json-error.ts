/**
 * The line of a JSON.parse syntax error, for errors that name file and line. V8 says where in one
 * of several ways: "(line N column M)" (Node 22), "at position N" (Node 20, most errors), the end
 * of the input, or a snippet of up to 10 characters either side of an unexpected token.
 */
export function lineOfJsonError(text: string, err: unknown): number | undefined {
  const message = err instanceof Error ? err.message : String(err);
  const line = /\(line (\d+) column \d+\)/.exec(message);
  if (line !== null) return Number(line[1]);
  const position = /at position (\d+)/.exec(message);
  if (position !== null) return lineOfOffset(text, Number(position[1]));
  if (/end of JSON input/.test(message)) return lineOfOffset(text, text.trimEnd().length);
  // `Unexpected token 'x', ..."<10 before>x<10 after>"... is not valid JSON`; a leading "..."
  // means the snippet starts 10 characters before the token, a trailing one alone that the
  // snippet is the start of the text; neither, the whole text (position unknown).
  const snippet = /, (\.\.\.)?"([\s\S]*)"(\.\.\.)? is not valid JSON$/.exec(message);
  if (snippet === null) return undefined;
  const [, before, context = '', after] = snippet;
  if (before !== undefined) {
    const start = text.indexOf(context);
    return start === -1 || text.indexOf(context, start + 1) !== -1 ? undefined : lineOfOffset(text, start + 10);
  }
  return after !== undefined ? lineOfOffset(text, context.length - 10) : undefined;
}

/** The 1-based line of a character offset. */
export function lineOfOffset(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
