/**
 * The Node.js releases qckeys supports, as package.json's `engines` has them: 24 LTS (CI, Docker
 * and the docs use it) and 22 from 22.15 (the oldest some build and test dependencies accept).
 * Plain JavaScript, so that it runs before anything is built, on any Node.js.
 */
export const SUPPORTED_NODE = '^22.15.0 || >=24';

/** True when `version` (e.g. "24.22.3") is a supported release. */
export function nodeSupported(version = process.versions.node) {
  const [major, minor] = version.split('.').map(Number);
  return major >= 24 || (major === 22 && minor >= 15);
}

/** One line saying that this Node.js is not supported and which ones are; null when it is supported. */
export function nodeVersionWarning(version = process.versions.node) {
  if (nodeSupported(version)) return null;
  return `qckeys: warning: Node.js ${version} is not supported (supported: 24 LTS, or 22 from 22.15); carrying on, but please upgrade`;
}
