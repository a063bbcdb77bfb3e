import {
  getNamedType, getNullableType, isListType, isObjectType, Kind,
  type DocumentNode, type FragmentDefinitionNode, type GraphQLCompositeType, type GraphQLField, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode,
} from 'graphql';
import { getArgumentValues, getVariableValues } from 'graphql/execution/values';
import type { UsageDimension, UsageGranularity } from '../../generated/graphql';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../lib/connection';
import { bucketStart, nextBucket } from './model';

/**
 * Usage points: what a request's usage reports hold, series × buckets, summed over every report
 * it asks for (`Query.usage`, and `ApiKey.usage` once per key of every list it is under). Points
 * are what costs memory and time to build and send, so a request's are bounded before it runs.
 */
export const DEFAULT_SERIES = 10;
export const MAX_SERIES = 100;

/** The series a report may hold at most: `first` values, and OTHERS, NO_TEAM and UNKNOWN_KEY. */
export function seriesBound(groupBy: UsageDimension, first: number): number {
  if (groupBy === 'CLOUD') return Math.min(first, 3) + (first < 3 ? 2 : 1);
  return first + (groupBy === 'TEAM' ? 3 : 2);
}

/** Buckets of a range, counted without building them; null for a range a report refuses anyway. */
export function bucketCount(from: Date, to: Date, granularity: UsageGranularity): number | null {
  if (!(from instanceof Date) || !(to instanceof Date) || !(from < to)) return null;
  const start = bucketStart(from, granularity).getTime();
  const span = to.getTime() - start;
  if (granularity === 'HOUR') return Math.ceil(span / 3_600_000);
  if (granularity === 'DAY') return Math.ceil(span / 86_400_000);
  if (granularity === 'WEEK') return Math.ceil(span / (7 * 86_400_000));
  let n = 0;
  for (let t = new Date(start); t < to && n <= 1_000_000; t = nextBucket(t, 'MONTH')) n++;
  return n;
}

/** Lists whose length no argument states, that hold keys: the most they hold (a bulk change's payload, a deactivation's revoked keys). */
const UNSIZED_LIST = 100;

/**
 * The usage points an operation asks for at most, from its selection, fragments and variables:
 * a report's points times the lists it is under (a connection's `first`/`last`, 50 by default).
 * Null when an argument cannot be read (the operation fails validation or coercion anyway).
 */
export function usagePointsOf(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, inputs: Record<string, unknown>): number | null {
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], inputs);
  if (coerced.errors) return null;
  const variables = coerced.coerced;
  const fragments = new Map(document.definitions
    .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
    .map((d) => [d.name.value, d]));
  const root = schema.getRootType(operation.operation);
  if (!root) return null;

  const walk = (set: SelectionSetNode, type: GraphQLCompositeType, times: number, pageSize: number, seen: ReadonlySet<string>): number => {
    let points = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type;
        if (on && (isObjectType(on) || 'getFields' in on)) points += walk(selection.selectionSet, on as GraphQLCompositeType, times, pageSize, seen);
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        const on = fragment && schema.getType(fragment.typeCondition.name.value);
        if (fragment && on && !seen.has(fragment.name.value)) {
          points += walk(fragment.selectionSet, on as GraphQLCompositeType, times, pageSize, new Set([...seen, fragment.name.value]));
        }
        continue;
      }
      if (!('getFields' in type)) continue;
      const field = (type.getFields() as Record<string, GraphQLField<unknown, unknown>>)[selection.name.value];
      if (!field) continue;
      const args = getArgumentValues(field, selection, variables) as Record<string, unknown>;
      if (field.name === 'usage' && type === root) {
        const buckets = bucketCount(args.filter ? (args.filter as { from: Date }).from : new Date(NaN), (args.filter as { to: Date } | undefined)?.to ?? new Date(NaN), args.granularity as UsageGranularity);
        points += times * seriesBound(args.groupBy as UsageDimension, Number(args.first ?? DEFAULT_SERIES)) * (buckets ?? 0);
      } else if (field.name === 'usage' && type.name === 'ApiKey') {
        points += times * (bucketCount(args.from as Date, args.to as Date, args.granularity as UsageGranularity) ?? 0);
      }
      if (!selection.selectionSet) continue;
      const returns = getNullableType(field.type);
      const named = getNamedType(field.type) as GraphQLCompositeType;
      // a connection's page size applies to its edges
      const size = 'first' in args || 'last' in args
        ? Math.min(MAX_PAGE_SIZE, Number(args.first ?? args.last ?? DEFAULT_PAGE_SIZE)) : pageSize;
      const listTimes = isListType(returns) ? (field.name === 'edges' ? pageSize : UNSIZED_LIST) : 1;
      points += walk(selection.selectionSet, named, times * listTimes, size, seen);
    }
    return points;
  };
  try {
    return walk(operation.selectionSet, root, 1, DEFAULT_PAGE_SIZE, new Set());
  } catch {
    return null;
  }
}
