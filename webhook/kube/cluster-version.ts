// The cluster's Kubernetes version, read from /version at start and again periodically: native
// sidecars (an init container with restartPolicy Always) exist from 1.29, so below it the webhook
// refuses to inject and says why.

/** The version fields of /version that matter here. */
export interface ClusterVersion {
  major: number;
  minor: number;
  /** As the server reports it, e.g. `v1.31.2-eks-7f9249a`. */
  gitVersion: string;
}

/** The first release with native sidecars enabled by default (SidecarContainers beta). */
export const NATIVE_SIDECARS_SINCE = { major: 1, minor: 29 } as const;

/**
 * Parses a /version answer. `gitVersion` is preferred: managed clusters report minors such as
 * `29+` while their gitVersion stays exact; `major`/`minor` are the fallback.
 */
export function parseClusterVersion(info: { gitVersion?: string; major?: string; minor?: string }): ClusterVersion | undefined {
  const git = /^v?(\d+)\.(\d+)/.exec(info.gitVersion ?? '');
  if (git) return { major: Number(git[1]), minor: Number(git[2]), gitVersion: info.gitVersion ?? '' };
  const major = /^(\d+)/.exec(info.major ?? '');
  const minor = /^(\d+)/.exec(info.minor ?? '');
  if (!major || !minor) return undefined;
  return { major: Number(major[1]), minor: Number(minor[1]), gitVersion: info.gitVersion ?? `v${major[1]}.${minor[1]}` };
}

/** True when the cluster runs native sidecars. */
export function supportsNativeSidecars(version: ClusterVersion): boolean {
  return version.major > NATIVE_SIDECARS_SINCE.major || (version.major === NATIVE_SIDECARS_SINCE.major && version.minor >= NATIVE_SIDECARS_SINCE.minor);
}

/** Reads /version; throws when it cannot. */
export type VersionSource = () => Promise<{ gitVersion?: string; major?: string; minor?: string }>;

/** The watcher of the cluster version. */
export interface ClusterVersionWatch {
  /** The last version read. */
  current(): ClusterVersion;
  /** Stops the periodic reads. */
  stop(): void;
}

/** Settings of {@link watchClusterVersion}. */
export interface ClusterVersionOptions {
  read: VersionSource;
  intervalMs: number;
  /** Called when a later read finds another version (an upgrade), or fails. */
  onChange?: (version: ClusterVersion) => void;
  onError?: (error: unknown) => void;
}

/**
 * Reads the version once (throwing when it cannot: the webhook does not start blind), then every
 * `intervalMs`. A failed later read keeps the last known version: an upgrade is rare and a
 * passing API hiccup must not switch injection off.
 */
export async function watchClusterVersion(options: ClusterVersionOptions): Promise<ClusterVersionWatch> {
  const read = async (): Promise<ClusterVersion> => {
    const info = await options.read();
    const parsed = parseClusterVersion(info);
    if (!parsed) throw new Error(`the API server's /version answer ${JSON.stringify(info).slice(0, 120)} names no Kubernetes version`);
    return parsed;
  };
  let version = await read();
  const timer = setInterval(() => {
    read().then((next) => {
      if (next.gitVersion === version.gitVersion) return;
      version = next;
      options.onChange?.(next);
    }, (error: unknown) => options.onError?.(error));
  }, options.intervalMs);
  timer.unref();
  return { current: () => version, stop: () => clearInterval(timer) };
}
