// The argument parsing `host adduser` and `host deliver` share: `--personality DIR` (or `-p DIR`,
// `--personality=DIR`), `--help`, and the operands.

export interface PersonalityArgs {
  /** The personality directory: --personality, else $SERVER_PERSONALITY_PATH, else ./personality. */
  dir: string;
  operands: string[];
}

/**
 * Split `argv` into the personality directory and the operands. A string is an error to print with
 * the usage ('' for --help). `--` ends the options only when `endOfOptions` is set; a lone `-` is
 * an operand.
 */
export function parsePersonalityArgs(
  argv: readonly string[],
  o: { endOfOptions: boolean },
): PersonalityArgs | string {
  let dir: string | undefined;
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--personality' || a === '-p') {
      dir = argv[++i];
      if (dir === undefined) return `${a} needs a directory`;
    } else if (a.startsWith('--personality=')) dir = a.slice('--personality='.length);
    else if (a === '--help' || a === '-h') return '';
    else if (a === '--' && o.endOfOptions) {
      operands.push(...argv.slice(i + 1));
      break;
    } else if (a.startsWith('-') && a !== '-') return `unknown option ${a}`;
    else operands.push(a);
  }
  // Same default as `host start`.
  return { dir: dir ?? process.env.SERVER_PERSONALITY_PATH ?? 'personality', operands };
}
