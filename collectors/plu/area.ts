import type { Logger } from '../../src/util/log';
import {
  bboxOf,
  bboxPolygon,
  contains,
  polygonsOf,
  quarters,
  representativePoint,
  simplify,
  type BBox,
  type Geometry,
} from './geometry';
import { GeometryTooLarge, type Feature, type GpuClient, type GpuResource } from './gpu';

/**
 * Features of one resource in an area too large or too rich for one request. The outline is sent as
 * is when its JSON fits API Carto's body limit, else simplified until it does; an answer of 413/414
 * simplifies it further, and an answer that reaches the feature cap (there is no offset to page on)
 * splits the area's bounding box into quarters, recursively. The caller filters the result: an outline
 * query also answers what merely touches the area.
 */

export interface AreaResult {
  features: Feature[];
  /** How the area was queried: its outline, a simplified outline, or tiles of its box. */
  how: 'outline' | 'simplified' | 'tiles';
  /** Some tile still reached the cap at the deepest split: features may be missing. */
  truncated: boolean;
}

export interface AreaLimits {
  maxBodyBytes: number;
  maxSplitDepth: number;
}

/** Room left in the body for `{"geom":…}` around the geometry. */
const ENVELOPE_BYTES = 16;
/** Simplification stops here (about 1 km): past it, tiles are the better way. */
const MAX_TOLERANCE = 0.01;

export async function featuresInArea(
  gpu: GpuClient,
  resource: GpuResource,
  area: Geometry,
  limits: AreaLimits,
  log: Logger,
): Promise<AreaResult> {
  let budget = limits.maxBodyBytes - ENVELOPE_BYTES;
  let geometry: Geometry | null = area;
  let how: AreaResult['how'] = 'outline';
  for (let attempt = 0; attempt < 3 && geometry; attempt++) {
    if (bytesOf(geometry) > budget) {
      geometry = fitToBudget(area, budget);
      how = 'simplified';
      if (!geometry) break;
    }
    try {
      const answer = await gpu.byGeometry(resource, geometry);
      if (!answer.capped) return { features: answer.collection.features, how, truncated: false };
      log.info(`${resource}: the outline's answer reached the cap; splitting its box into tiles`);
      break;
    } catch (error) {
      if (!(error instanceof GeometryTooLarge)) throw error;
      // The server's limit is lower than we thought: aim at half of what it refused.
      budget = Math.floor(bytesOf(geometry) / 2);
      log.info(`${resource}: ${error.message}; simplifying the outline to ${budget} bytes`);
    }
  }
  const box = bboxOf(area);
  if (!box) return { features: [], how: 'tiles', truncated: false };
  const found = new Map<string, Feature>();
  const truncated = await tiles(gpu, resource, box, 0, limits.maxSplitDepth, found, log);
  return { features: [...found.values()], how: 'tiles', truncated };
}

async function tiles(
  gpu: GpuClient,
  resource: GpuResource,
  box: BBox,
  depth: number,
  maxDepth: number,
  found: Map<string, Feature>,
  log: Logger,
): Promise<boolean> {
  let capped = false;
  try {
    const answer = await gpu.byGeometry(resource, bboxPolygon(box));
    for (const f of answer.collection.features) found.set(featureKey(f), f);
    capped = answer.capped;
  } catch (error) {
    if (!(error instanceof GeometryTooLarge) || depth >= maxDepth) throw error;
    capped = true;
  }
  if (!capped) return false;
  if (depth >= maxDepth) {
    log.warn(`${resource}: a tile still reaches the cap after ${maxDepth} splits; its features may be cut`);
    return true;
  }
  let truncated = false;
  for (const quarter of quarters(box)) {
    if (await tiles(gpu, resource, quarter, depth + 1, maxDepth, found, log)) truncated = true;
  }
  return truncated;
}

/** The outline simplified just enough for its JSON to fit `budget` bytes, or null when it cannot be. */
export function fitToBudget(area: Geometry, budget: number): Geometry | null {
  for (let tolerance = 1e-6; tolerance <= MAX_TOLERANCE; tolerance *= 2) {
    const simplified = simplify(area, tolerance);
    if (polygonsOf(simplified).length === 0) return null;
    if (bytesOf(simplified) <= budget) return simplified;
  }
  return null;
}

function bytesOf(geometry: Geometry): number {
  return Buffer.byteLength(JSON.stringify(geometry));
}

/** One feature once, however many tiles answered it. */
function featureKey(f: Feature): string {
  if (f.id !== undefined) return `id:${String(f.id)}`;
  const gid = f.properties?.['gid'];
  if (gid !== undefined && gid !== null)
    return `gid:${String(f.properties?.['partition'] ?? '')}:${String(gid)}`;
  return `json:${JSON.stringify(f.properties)}:${JSON.stringify(representativePoint(f.geometry))}`;
}

/**
 * The features that belong to one commune: by their `insee` property when they have one, else by
 * whether the point that stands for them lies inside the commune's outline (full precision), so the
 * neighbours' zones an outline or a tile also catches are left out.
 */
export function withinCommune(features: readonly Feature[], insee: string, outline: Geometry): Feature[] {
  return features.filter((f) => {
    const code = f.properties?.['insee'];
    if (typeof code === 'string' && code !== '') return code === insee;
    const point = representativePoint(f.geometry);
    return point !== null && contains(outline, point);
  });
}
