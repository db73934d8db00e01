#!/usr/bin/env node
// The `host` command: start, serve-stdio, check, inspect, deliver, adduser.

const USAGE = `usage: host <command> [arguments]

  start [DIR]        run the server in the foreground (DIR, else $SERVER_PERSONALITY_PATH, else ./personality)
  serve-stdio [DIR] [MODULE]
                     serve one session on stdin/stdout (inetd, xinetd, tcpserver, systemd Accept=yes)
  check DIR          validate the personality; print the effective configuration
  inspect MODULE     print a module's summary and options (a module name in the personality, or a file)
  reference [DIR]    print the c11n reference (Markdown) of the host and the personality's modules
  deliver ...        deliver a message to a mailbox (see host deliver --help)
  adduser ...        add a user to the personality's database (see host adduser --help)
`;

async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start': {
      const { runHost } = await import('../host/host.js');
      return runHost(rest[0]);
    }
    case 'serve-stdio':
      return (await import('./serve-stdio.js')).runServeStdio(rest);
    case 'check':
      return (await import('./check.js')).runCheck(rest);
    case 'inspect':
      return (await import('./inspect.js')).runInspect(rest);
    case 'reference':
      return (await import('./reference.js')).runReference(rest);
    case 'deliver':
      return (await import('../delivery/command.js')).runDeliver(rest);
    case 'adduser':
      return (await import('./adduser.js')).runAdduser(rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(command ? `host: unknown command "${command}"\n${USAGE}` : USAGE);
      return 64;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // undefined: a server is running; it exits on its own signals.
    if (code !== undefined) {
      process.exitCode = code;
      if (code !== 0) setImmediate(() => process.exit(code));
    }
  },
  (e) => {
    process.stderr.write(`host: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
