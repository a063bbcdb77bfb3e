import type { GraphQLResolveInfo } from 'graphql';
import { fieldsOf } from '../../lib/selection';

/** Which related objects of its keys a listing is asked for. */
export interface KeyRelations { developer: boolean; instance: boolean; channel: boolean; teams: boolean }

/** Reads `edges { node { developer instance channel teams } }` from a connection field's selection. */
export function relationsAsked(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>): KeyRelations {
  const asked = new Set<string>();
  for (const connection of info.fieldNodes) {
    for (const edges of fieldsOf(connection.selectionSet, info.fragments).filter((f) => f.name.value === 'edges')) {
      for (const node of fieldsOf(edges.selectionSet, info.fragments).filter((f) => f.name.value === 'node')) {
        for (const field of fieldsOf(node.selectionSet, info.fragments)) asked.add(field.name.value);
      }
    }
  }
  return { developer: asked.has('developer'), instance: asked.has('instance'), channel: asked.has('channel'), teams: asked.has('teams') };
}
