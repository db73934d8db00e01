// systemd socket activation (sd_listen_fds(3)): when LISTEN_PID is this process and LISTEN_FDS
// is set, the listening sockets are inherited from fd 3 on and a listener uses one instead of
// binding. An fd is matched by name first (LISTEN_FDNAMES, set by FileDescriptorName= in the
// .socket unit: name them after the listeners, e.g. `pop3`, `pop3s`), else listeners take the
// fds with no name of their own (none, `unknown`, a unit name) in the order they are created. A
// listener left without an fd binds as usual.
// Cluster workers never match (their pid differs), so socket activation wants `processes = 1`.

/** First inherited descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

interface Inherited {
  fd: number;
  name: string | undefined;
}

let inherited: Inherited[] | null | undefined;
const claimed = new Set<number>();

/** The descriptors systemd passed to this process (empty when not socket-activated). */
export function inheritedFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Inherited[] {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return [];
  const n = Number(env.LISTEN_FDS);
  if (!Number.isInteger(n) || n <= 0) return [];
  const names = env.LISTEN_FDNAMES?.split(':') ?? [];
  return Array.from({ length: n }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] || undefined }));
}

/**
 * inetd/xinetd `wait = yes` (popserv -i): the listening socket is fd 0 and the server accepts on it.
 * Call before the listeners are created; the first one takes it.
 */
export function inheritListeningStdin(): void {
  inherited = [{ fd: 0, name: undefined }];
}

/**
 * The inherited fd for the listener `name`, claimed so no other listener gets it; undefined when
 * not socket-activated or none is left.
 */
export function claimListenFd(name: string): number | undefined {
  inherited ??= inheritedFds();
  if (inherited.length === 0) return undefined;
  const free = inherited.filter((i) => !claimed.has(i.fd));
  // systemd's default name is the unit's, e.g. `pop3.socket`.
  const pick =
    free.find((i) => i.name === name || i.name === `${name}.socket`) ??
    free.find((i) => i.name === undefined || i.name === 'unknown' || i.name.endsWith('.socket'));
  if (pick === undefined) return undefined;
  claimed.add(pick.fd);
  return pick.fd;
}
