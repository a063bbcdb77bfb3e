import { badInput } from '../../errors';
import type { ApiKeyEventFilter, ApiKeyFilter, ApiKeyOrder } from '../../generated/graphql';
import { idList, searchText } from '../../lib/validate';
import { MAX_LIFETIME_SECONDS } from './model';
import type { EventFilter, KeyFilter, KeyOrder } from './store';

const validDate = (d: Date | null | undefined): d is Date => d instanceof Date && !Number.isNaN(d.getTime());

export function toKeyFilter(f: ApiKeyFilter | null | undefined, field: string): KeyFilter {
  const filter: KeyFilter = {
    search: searchText(`${field}.search`, f?.search),
    teamIds: idList(`${field}.teamIds`, f?.teamIds),
    withoutTeam: f?.withoutTeam ?? null,
    developerIds: idList(`${field}.developerIds`, f?.developerIds),
    channelIds: idList(`${field}.channelIds`, f?.channelIds),
    instanceIds: idList(`${field}.instanceIds`, f?.instanceIds),
    clouds: [...new Set(f?.clouds ?? [])],
    statuses: [...new Set(f?.statuses ?? [])],
    expiresBefore: f?.expiresBefore ?? null,
    expiresAfter: f?.expiresAfter ?? null,
  };
  if (filter.expiresBefore && filter.expiresAfter && filter.expiresAfter > filter.expiresBefore) {
    throw badInput(`${field}.expiresAfter`, 'expiresAfter must not be later than expiresBefore');
  }
  return filter;
}

export function toKeyOrder(order: ApiKeyOrder | null | undefined): KeyOrder {
  return order ?? { field: 'CREATED_AT', direction: 'DESC' };
}

export function toEventFilter(f: ApiKeyEventFilter | null | undefined): EventFilter {
  const actor = f?.actor?.trim();
  return {
    apiKeyIds: idList('filter.apiKeyIds', f?.apiKeyIds),
    types: [...new Set(f?.types ?? [])],
    actor: actor ? actor : null,
    from: f?.from ?? null,
    to: f?.to ?? null,
  };
}

/** The latest expiry a key may get: three calendar years from now. */
export function maxExpiry(now: Date): Date {
  const max = new Date(now);
  max.setUTCFullYear(max.getUTCFullYear() + 3);
  return max;
}

/** An expiry in the future and at most three years ahead. */
export function checkExpiry(field: string, expiresAt: Date, now: Date): Date {
  if (!validDate(expiresAt)) throw badInput(field, 'Must be a valid date-time');
  if (expiresAt.getTime() <= now.getTime()) throw badInput(field, 'Must be in the future');
  if (expiresAt.getTime() > maxExpiry(now).getTime()) throw badInput(field, 'Must be at most 3 years ahead');
  return expiresAt;
}

export function lifetimeSeconds(expiresAt: Date, now: Date): number {
  return Math.min(MAX_LIFETIME_SECONDS, Math.max(1, Math.round((expiresAt.getTime() - now.getTime()) / 1000)));
}
