import type { GraphQLResolveInfo } from 'graphql';
import { fieldsOf } from '../../lib/selection';

/** Which related objects of its keys a listing is asked for, and whether its `totalCount` is. */
export interface KeyRelations { developer: boolean; instance: boolean; channel: boolean; teams: boolean; totalCount: boolean }

/** Reads `totalCount` and `edges { node { developer instance channel teams } }` from a connection field's selection. */
export function relationsAsked(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>): KeyRelations {
  const asked = new Set<string>();
  let totalCount = false;
  for (const connection of info.fieldNodes) {
    const fields = fieldsOf(connection.selectionSet, info.fragments);
    totalCount ||= fields.some((f) => f.name.value === 'totalCount');
    for (const edges of fields.filter((f) => f.name.value === 'edges')) {
      for (const node of fieldsOf(edges.selectionSet, info.fragments).filter((f) => f.name.value === 'node')) {
        for (const field of fieldsOf(node.selectionSet, info.fragments)) asked.add(field.name.value);
      }
    }
  }
  return { developer: asked.has('developer'), instance: asked.has('instance'), channel: asked.has('channel'), teams: asked.has('teams'), totalCount };
}
