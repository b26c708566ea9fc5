/**
 * The little planar geometry PLU needs, on GeoJSON coordinates in EPSG:4326 (degrees): bounding boxes,
 * simplification (Douglas–Peucker) to fit a request body, tiles, and a point-in-polygon test to keep only
 * the zones of one commune. Degrees are treated as planar: at commune scale the error is irrelevant to
 * "which side of the border is this zone on".
 */

export type Position = [number, number];
export type Ring = Position[];

export interface Geometry {
  type: string;
  coordinates?: unknown;
  geometries?: unknown;
}

export interface BBox {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/** The polygons of a Polygon or MultiPolygon, each a list of rings (outer first); others have none. */
export function polygonsOf(geometry: Geometry | null | undefined): Ring[][] {
  if (!geometry) return [];
  if (geometry.type === 'Polygon') return [geometry.coordinates as Ring[]];
  if (geometry.type === 'MultiPolygon') return geometry.coordinates as Ring[][];
  if (geometry.type === 'GeometryCollection')
    return ((geometry.geometries as Geometry[] | undefined) ?? []).flatMap((g) => polygonsOf(g));
  return [];
}

/** Every position of a geometry, whatever its type. */
export function positionsOf(geometry: Geometry | null | undefined): Position[] {
  const out: Position[] = [];
  const walk = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number' && typeof c[1] === 'number') out.push([c[0], c[1]]);
    else if (Array.isArray(c)) c.forEach(walk);
  };
  if (geometry?.type === 'GeometryCollection')
    for (const g of (geometry.geometries as Geometry[] | undefined) ?? []) out.push(...positionsOf(g));
  else walk(geometry?.coordinates);
  return out;
}

export function bboxOf(geometry: Geometry | null | undefined): BBox | null {
  const points = positionsOf(geometry);
  if (points.length === 0) return null;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [x, y] of points) {
    minX = Math.min(minX, x);
    minY = Math.min(minY, y);
    maxX = Math.max(maxX, x);
    maxY = Math.max(maxY, y);
  }
  return { minX, minY, maxX, maxY };
}

export function bboxPolygon(b: BBox): Geometry {
  return {
    type: 'Polygon',
    coordinates: [
      [
        [b.minX, b.minY],
        [b.maxX, b.minY],
        [b.maxX, b.maxY],
        [b.minX, b.maxY],
        [b.minX, b.minY],
      ],
    ],
  };
}

/** The four quarters of a box. */
export function quarters(b: BBox): BBox[] {
  const midX = (b.minX + b.maxX) / 2;
  const midY = (b.minY + b.maxY) / 2;
  return [
    { minX: b.minX, minY: b.minY, maxX: midX, maxY: midY },
    { minX: midX, minY: b.minY, maxX: b.maxX, maxY: midY },
    { minX: b.minX, minY: midY, maxX: midX, maxY: b.maxY },
    { minX: midX, minY: midY, maxX: b.maxX, maxY: b.maxY },
  ];
}

/**
 * Douglas–Peucker on one closed ring (first point = last). Its two ends are the same point, so the
 * recursion starts from the point farthest from it; null when the ring collapses.
 */
export function simplifyRing(ring: Ring, tolerance: number): Ring | null {
  if (ring.length <= 4) return ring;
  const keep = new Uint8Array(ring.length);
  const far = ring.reduce((best, p, i) => (dist(p, ring[0]!) > dist(ring[best]!, ring[0]!) ? i : best), 0);
  keep[0] = 1;
  keep[far] = 1;
  keep[ring.length - 1] = 1;
  const stack: [number, number][] = [
    [0, far],
    [far, ring.length - 1],
  ];
  while (stack.length > 0) {
    const [first, last] = stack.pop()!;
    let worst = -1;
    let worstAt = -1;
    for (let i = first + 1; i < last; i++) {
      const d = segmentDistance(ring[i]!, ring[first]!, ring[last]!);
      if (d > worst) {
        worst = d;
        worstAt = i;
      }
    }
    if (worst > tolerance && worstAt > 0) {
      keep[worstAt] = 1;
      stack.push([first, worstAt], [worstAt, last]);
    }
  }
  const out = ring.filter((_, i) => keep[i] === 1);
  // Smaller than the tolerance: the ring (an islet, a hole) is dropped rather than kept as a sliver.
  return out.length >= 4 ? out : null;
}

export function simplify(geometry: Geometry, tolerance: number): Geometry {
  const polygons = polygonsOf(geometry)
    .map((rings) => rings.map((r) => simplifyRing(r, tolerance)).filter((r): r is Ring => r !== null))
    .filter((rings) => rings.length > 0);
  return { type: 'MultiPolygon', coordinates: polygons };
}

/** Whether a point is inside a (multi)polygon, holes excluded (even–odd rule over every ring). */
export function contains(geometry: Geometry, [x, y]: Position): boolean {
  let inside = false;
  for (const rings of polygonsOf(geometry)) {
    for (const ring of rings) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i]!;
        const [xj, yj] = ring[j]!;
        if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
      }
    }
  }
  return inside;
}

/**
 * A point that stands for a feature: the area centroid of its largest outer ring when that centroid lies
 * inside it, else its first vertex; for points and lines, the middle position.
 */
export function representativePoint(geometry: Geometry | null | undefined): Position | null {
  const polygons = polygonsOf(geometry);
  if (polygons.length > 0) {
    let best: Ring | null = null;
    let bestArea = -1;
    for (const rings of polygons) {
      const outer = rings[0];
      if (!outer || outer.length < 4) continue;
      const area = Math.abs(signedArea(outer));
      if (area > bestArea) {
        bestArea = area;
        best = outer;
      }
    }
    if (best) {
      const c = centroid(best);
      const shape: Geometry = { type: 'Polygon', coordinates: [best] };
      if (c && contains(shape, c)) return c;
      return best[0] ?? null;
    }
  }
  const points = positionsOf(geometry);
  return points[Math.floor(points.length / 2)] ?? null;
}

function signedArea(ring: Ring): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++)
    a += ring[j]![0] * ring[i]![1] - ring[i]![0] * ring[j]![1];
  return a / 2;
}

function centroid(ring: Ring): Position | null {
  const a = signedArea(ring);
  if (a === 0) return null;
  let cx = 0;
  let cy = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const f = ring[j]![0] * ring[i]![1] - ring[i]![0] * ring[j]![1];
    cx += (ring[j]![0] + ring[i]![0]) * f;
    cy += (ring[j]![1] + ring[i]![1]) * f;
  }
  return [cx / (6 * a), cy / (6 * a)];
}

function dist(a: Position, b: Position): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

function segmentDistance(p: Position, a: Position, b: Position): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const length2 = dx * dx + dy * dy;
  if (length2 === 0) return dist(p, a);
  const t = Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2));
  return dist(p, [a[0] + t * dx, a[1] + t * dy]);
}
