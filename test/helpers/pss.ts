// A checker of the Pod Security Standards' restricted profile (which includes baseline), written
// from the published table at kubernetes.io/docs/concepts/security/pod-security-standards/.
// It reports every violated control with the field at fault; test code only.

type Json = Record<string, unknown>;

function obj(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function list(value: unknown): Json[] {
  return Array.isArray(value) ? value.map(obj) : [];
}

// Baseline "Capabilities": what may be added at all; restricted narrows it to NET_BIND_SERVICE.
const RESTRICTED_ADD = new Set(['NET_BIND_SERVICE']);
// Restricted "Volume Types".
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
// Baseline "Sysctls": the safe set.
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

function seccompOk(profile: unknown): boolean | undefined {
  const type = obj(profile).type;
  if (type === undefined) return undefined;
  return type === 'RuntimeDefault' || type === 'Localhost';
}

/**
 * The restricted-profile violations of `pod` (a Pod object), as `field: control` lines. With
 * `containerNames`, only those containers are checked (pod-level controls still apply).
 */
export function restrictedViolations(pod: unknown, containerNames?: readonly string[]): string[] {
  const out: string[] = [];
  const spec = obj(obj(pod).spec);
  const podSc = obj(spec.securityContext);
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (spec[field] === true) out.push(`spec.${field}: host namespaces`);
  if (obj(podSc.windowsOptions).hostProcess === true) out.push('spec.securityContext.windowsOptions.hostProcess: HostProcess');
  if (podSc.runAsUser === 0) out.push('spec.securityContext.runAsUser: running as non-root user');
  if (seccompOk(podSc.seccompProfile) === false) out.push('spec.securityContext.seccompProfile: seccomp');
  const seLinux = obj(podSc.seLinuxOptions);
  if (!SELINUX_TYPES.has(String(seLinux.type ?? '')) || seLinux.user !== undefined || seLinux.role !== undefined) out.push('spec.securityContext.seLinuxOptions: SELinux');
  for (const sysctl of list(podSc.sysctls)) if (!SAFE_SYSCTLS.has(String(sysctl.name))) out.push(`spec.securityContext.sysctls ${String(sysctl.name)}: sysctls`);
  for (const volume of list(spec.volumes)) {
    const types = Object.keys(volume).filter((k) => k !== 'name');
    if (volume.hostPath !== undefined) out.push(`volume ${String(volume.name)}: hostPath volumes`);
    if (!types.every((t) => RESTRICTED_VOLUMES.has(t))) out.push(`volume ${String(volume.name)}: volume types (${types.join(',')})`);
  }
  const annotations = obj(obj(obj(pod).metadata).annotations);
  for (const [key, value] of Object.entries(annotations)) {
    if (key.startsWith('container.apparmor.security.beta.kubernetes.io/') && value !== 'runtime/default' && !String(value).startsWith('localhost/')) out.push(`annotation ${key}: AppArmor`);
  }
  for (const field of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
    for (const container of list(spec[field])) {
      const name = String(container.name);
      if (containerNames && !containerNames.includes(name)) continue;
      const at = `${field} ${name}`;
      const sc = obj(container.securityContext);
      if (sc.privileged === true) out.push(`${at}: privileged containers`);
      if (obj(sc.windowsOptions).hostProcess === true) out.push(`${at}: HostProcess`);
      if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: privilege escalation (allowPrivilegeEscalation must be false)`);
      if (sc.runAsNonRoot !== true && !(podSc.runAsNonRoot === true && sc.runAsNonRoot === undefined)) out.push(`${at}: running as non-root`);
      if (sc.runAsUser === 0) out.push(`${at}: running as non-root user`);
      const seccomp = seccompOk(sc.seccompProfile);
      if (seccomp === false || (seccomp === undefined && seccompOk(podSc.seccompProfile) !== true)) out.push(`${at}: seccomp (RuntimeDefault or Localhost)`);
      const caps = obj(sc.capabilities);
      if (!(Array.isArray(caps.drop) && caps.drop.includes('ALL'))) out.push(`${at}: capabilities (must drop ALL)`);
      for (const cap of Array.isArray(caps.add) ? caps.add : []) if (!RESTRICTED_ADD.has(String(cap))) out.push(`${at}: capabilities (adds ${String(cap)})`);
      if (sc.procMount !== undefined && sc.procMount !== 'Default') out.push(`${at}: /proc mount type`);
      const selinux = obj(sc.seLinuxOptions);
      if (!SELINUX_TYPES.has(String(selinux.type ?? '')) || selinux.user !== undefined || selinux.role !== undefined) out.push(`${at}: SELinux`);
      const apparmor = obj(sc.appArmorProfile).type;
      if (apparmor !== undefined && apparmor !== 'RuntimeDefault' && apparmor !== 'Localhost') out.push(`${at}: AppArmor`);
      for (const port of list(container.ports)) if (port.hostPort !== undefined && port.hostPort !== 0) out.push(`${at}: host ports`);
    }
  }
  return out;
}
