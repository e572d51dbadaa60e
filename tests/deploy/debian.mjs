// Shared by the deploy suites that make a Debian 12 root file system with mmdebstrap (no
// registry is reachable here, so base images are built locally and imported).
import { spawnSync } from 'node:child_process';

/** The bookworm mirror apt already uses on this machine (plain HTTP, works through the proxy). */
export function bookwormMirror() {
  const r = spawnSync('apt-get', ['indextargets', '--format', '$(REPO_URI) $(RELEASE)'], { encoding: 'utf8' });
  return (r.stdout || '').split('\n').map((l) => l.split(' ')).find((f) => f[1] === 'bookworm')?.[0] ||
    'http://deb.debian.org/debian/';
}

/** mmdebstrap options for a slim minbase: no documentation or manual pages. */
export const SLIM_OPTS = ['--variant=minbase', '--dpkgopt=path-exclude=/usr/share/doc/*',
  '--dpkgopt=path-exclude=/usr/share/man/*'];
