import { badInput } from '../errors';

/** A trimmed display name of 1 to `max` characters without control characters. */
export function cleanName(field: string, value: string, max = 100): string {
  const name = value.trim();
  if (name.length === 0) throw badInput(field, 'Must not be empty');
  if (name.length > max) throw badInput(field, `Must be at most ${max} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw badInput(field, 'Must not contain control characters');
  return name;
}

export function optionalText(field: string, value: string | null | undefined, max: number): string | null {
  if (value == null) return null;
  const text = value.trim();
  if (text.length > max) throw badInput(field, `Must be at most ${max} characters`);
  return text === '' ? null : text;
}

export function cleanUrl(field: string, value: string | null | undefined): string | null {
  if (value == null || value.trim() === '') return null;
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw badInput(field, 'Must be an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badInput(field, 'Must be an http or https URL');
  if (value.length > 2000) throw badInput(field, 'Must be at most 2000 characters');
  return url.toString();
}

/** Distinct IDs, at most `max` of them. */
export function idList(field: string, ids: readonly string[] | null | undefined, max = 1000): string[] {
  if (!ids) return [];
  if (ids.length > max) throw badInput(field, `At most ${max} IDs`);
  return [...new Set(ids)];
}

/** Distinct names (case-insensitive), cleaned. */
export function nameList(field: string, names: readonly string[] | null | undefined, max = 100): string[] {
  if (!names) return [];
  if (names.length > max) throw badInput(field, `At most ${max} names`);
  const seen = new Map<string, string>();
  names.forEach((n, i) => {
    const name = cleanName(`${field}.${i}`, n);
    if (!seen.has(name.toLowerCase())) seen.set(name.toLowerCase(), name);
  });
  return [...seen.values()];
}

export function searchText(field: string, value: string | null | undefined): string | null {
  if (value == null) return null;
  const text = value.trim();
  if (text.length > 100) throw badInput(field, 'Must be at most 100 characters');
  return text === '' ? null : text;
}

/** Escapes LIKE wildcards so a search is a plain substring match. */
export function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
