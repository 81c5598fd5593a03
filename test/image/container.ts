// A container without a container runtime: the image's root filesystem (test/image/rootfs.ts)
// run the way the Helm chart's DaemonSet asks a runtime to run it, in a network namespace of
// the test standing for the node (the chart's hostNetwork):
//
// - its own mount and pid namespaces (the entrypoint is pid 1), /proc of that pid namespace, a
//   minimal /dev (null, zero, full, random, urandom, tty; fd links; /dev/shm), /sys read-only;
// - the root filesystem mounted read-only when readOnlyRootFilesystem is true, a tmpfs at every
//   mountPath of an emptyDir volume, and the test's own read-only bind mounts (a ConfigMap-like
//   folder of policies);
// - user runAsUser, no supplementary groups, the capability bounding set reduced to the
//   chart's `add` list (drop ALL), no inheritable or ambient capabilities, and no_new_privs when
//   allowPrivilegeEscalation is false: as root, the process then has exactly those capabilities
//   in its permitted and effective sets, what runc gives a root container;
// - only the image's environment (ENV lines, PATH) and the container's env.
//
// `exec` enters a running container's namespaces and root as `kubectl exec` does (nsenter),
// with the same reduced privileges. Not reproduced: the RuntimeDefault seccomp profile, the
// container's cgroup and the resources limits.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface SecurityContext {
  readonly runAsUser: number;
  /** Capabilities the process keeps, lower case without CAP_ (e.g. net_admin). */
  readonly capabilities: readonly string[];
  readonly readOnlyRootFilesystem: boolean;
  readonly noNewPrivs: boolean;
  /** Paths where the pod mounts an emptyDir (a tmpfs here). */
  readonly tmpfs: readonly string[];
}

interface PodContainer {
  securityContext?: { runAsUser?: number; allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; privileged?: boolean; capabilities?: { drop?: string[]; add?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}

/** The security context of a rendered pod template's container, in the terms above; refuses
 *  what this harness would not reproduce (privileged, a partial drop). */
export function securityFromPod(container: PodContainer, volumes: { name: string; emptyDir?: unknown }[]): SecurityContext {
  const sc = container.securityContext ?? {};
  if (sc.privileged) throw new Error('a privileged container is not what this check reproduces');
  if (!(sc.capabilities?.drop ?? []).includes('ALL')) throw new Error('the check reproduces capabilities.drop: [ALL] only');
  const tmpfs = (container.volumeMounts ?? []).filter((m) => volumes.find((v) => v.name === m.name)?.emptyDir !== undefined).map((m) => m.mountPath);
  const other = (container.volumeMounts ?? []).filter((m) => !tmpfs.includes(m.mountPath));
  if (other.length) throw new Error(`volume mounts the check does not reproduce: ${other.map((m) => m.mountPath).join(', ')}`);
  return {
    runAsUser: sc.runAsUser ?? 0,
    capabilities: (sc.capabilities?.add ?? []).map((c) => c.toLowerCase().replace(/^cap_/, '')),
    readOnlyRootFilesystem: sc.readOnlyRootFilesystem === true,
    noNewPrivs: sc.allowPrivilegeEscalation === false,
    tmpfs,
  };
}

/** setpriv's arguments for the security context (run inside the root: setpriv is util-linux,
 *  which Debian always installs). */
function setprivArgs(sec: SecurityContext): string[] {
  const caps = ['-all', ...sec.capabilities.map((c) => `+${c}`)].join(',');
  return ['/usr/bin/setpriv', `--reuid=${sec.runAsUser}`, `--regid=${sec.runAsUser}`, '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', `--bounding-set=${caps}`, ...(sec.noNewPrivs ? ['--no-new-privs'] : []), '--'];
}

export interface BindMount { readonly host: string; readonly path: string }

export interface ContainerSpec {
  readonly root: string;
  readonly workdir: string;
  /** The container's whole environment (the image's ENV plus the pod's env). */
  readonly env: Record<string, string>;
  readonly argv: readonly string[];
  readonly netns: string;
  readonly security: SecurityContext;
  readonly binds?: readonly BindMount[];
}

/** Children of a process (Linux /proc/PID/task/*\/children). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) out.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    // gone
  }
  return out;
}

export interface Container {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Host pid of the container's init (pid 1 inside), once it exists. */
  init(): Promise<number>;
}

/** Starts the container: `ip netns exec NODE unshare --mount --pid --fork` sets up the mounts,
 *  then `unshare --root ROOT --wd WORKDIR setpriv … ARGV`. */
export function startContainer(c: ContainerSpec): Container {
  const { root, security: sec } = c;
  // Mount points the image lacks are made before the root becomes read-only (a runtime makes
  // them the same way, in its own copy of the image's layers).
  for (const p of [...sec.tmpfs, ...(c.binds ?? []).map((b) => b.path)]) mkdirSync(join(root, p), { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = [
    'set -e',
    `R=${q(root)}`,
    'mount --bind "$R" "$R"',
    'mount -t proc -o nosuid,nodev,noexec proc "$R/proc"',
    'mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"',
    'mount -t tmpfs -o nosuid,mode=755,size=65536k tmpfs "$R/dev"',
    'for d in null zero full random urandom tty; do touch "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done',
    'ln -s /proc/self/fd "$R/dev/fd"; ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"',
    'mkdir "$R/dev/shm" "$R/dev/pts"; mount -t tmpfs -o nosuid,nodev,noexec tmpfs "$R/dev/shm"',
    ...sec.tmpfs.map((p) => `mount -t tmpfs -o nosuid,nodev tmpfs "$R"${q(p)}`),
    ...(c.binds ?? []).flatMap((b) => [`mount --bind ${q(b.host)} "$R"${q(b.path)}`, `mount -o remount,bind,ro "$R"${q(b.path)}`]),
    ...(sec.readOnlyRootFilesystem ? ['mount -o remount,bind,ro "$R"'] : []),
    `exec unshare --root="$R" --wd=${q(c.workdir)} ${[...setprivArgs(sec), ...c.argv].map(q).join(' ')}`,
  ];
  const proc = spawn('ip', ['netns', 'exec', c.netns, 'unshare', '--mount', '--pid', '--fork', '--propagation', 'private', '--', '/bin/sh', '-c', lines.join('\n')], { env: c.env });
  const init = async (): Promise<number> => {
    for (let i = 0; i < 200; i++) {
      const kids = proc.pid === undefined ? [] : childrenOf(proc.pid);
      if (kids.length === 1) {
        const kid = kids[0]!;
        // Init has exec'd the command once its comm is no longer the shell's or setpriv's.
        let comm = '';
        try { comm = readFileSync(`/proc/${kid}/comm`, 'utf8').trim(); } catch { /* starting */ }
        if (comm && !['sh', 'unshare', 'setpriv'].includes(comm)) return kid;
      }
      if (proc.exitCode !== null) throw new Error(`the container exited (${proc.exitCode})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the container\'s init did not start');
  };
  return { proc, init };
}

/** `kubectl exec`: a process in the running container's mount, pid and network namespaces,
 *  its root and working directory, with the same privileges. */
export function execInContainer(initPid: number, c: Pick<ContainerSpec, 'env' | 'security'>, argv: readonly string[]): ChildProcessWithoutNullStreams {
  return spawn('nsenter', [`--target=${initPid}`, '--mount', '--pid', '--net', '--root', '--wd', '--', ...setprivArgs(c.security), ...argv], { env: c.env });
}

export interface Privileges {
  readonly uid: string;
  readonly capInh: string;
  readonly capPrm: string;
  readonly capEff: string;
  readonly capBnd: string;
  readonly capAmb: string;
  readonly noNewPrivs: string;
}

/** A process's ids and capability sets from /proc/PID/status. */
export function privilegesOf(pid: number): Privileges {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  return { uid: field('Uid'), capInh: field('CapInh'), capPrm: field('CapPrm'), capEff: field('CapEff'), capBnd: field('CapBnd'), capAmb: field('CapAmb'), noNewPrivs: field('NoNewPrivs') };
}

/** Capability numbers of the names the check uses (linux/capability.h). */
export const CAP_NUMBERS: Record<string, number> = { net_admin: 12, net_raw: 13, sys_admin: 21, net_bind_service: 10 };

/** The 16-hex-digit mask /proc/PID/status shows for a set of capabilities. */
export function capMask(caps: readonly string[]): string {
  let m = 0n;
  for (const c of caps) {
    const n = CAP_NUMBERS[c];
    if (n === undefined) throw new Error(`capability ${c} is not in CAP_NUMBERS`);
    m |= 1n << BigInt(n);
  }
  return m.toString(16).padStart(16, '0');
}
