/**
 * Deterministic rows for the loopback XMP: the same day always gives the same rows, so a rerun of a
 * window must leave byte-identical objects.
 */
export interface XmpData {
  adRows(day: string): unknown[];
  creativeRows(day: string): unknown[];
  libraryRows(day: string): unknown[];
}

const GEOS = ['US', 'FR', 'JP', 'BR', 'DE'];

/** A small number from the day, so days differ. */
function seed(day: string): number {
  return Number(day.slice(8, 10));
}

export function adRows(day: string): unknown[] {
  return GEOS.slice(0, 3).map((geo, i) => ({
    date: day,
    geo,
    campaign_id: `c-${100 + i}`,
    campaign_name: `Campaign ${i + 1}`,
    impression: 1000 * (i + 1) + seed(day),
    click: 50 * (i + 1),
    install: 5 * (i + 1),
    cost: +(12.5 * (i + 1)).toFixed(2),
  }));
}

/** 7 creatives a day: two pages of 5 (a full one and a short one) at page_size 5. */
export function creativeRows(day: string): unknown[] {
  return Array.from({ length: 7 }, (_, i) => ({
    date: day,
    material_name: `creative-${day}-${i}.mp4`,
    md5_file_id: `md5-${day}-${i}`,
    impression: 300 + i + seed(day),
    click: 10 + i,
    install: i,
    cost: +(1.25 * (i + 1)).toFixed(2),
  }));
}

export function libraryRows(day: string): unknown[] {
  return Array.from({ length: 4 }, (_, i) => ({
    material_name: `creative-${day}-${i}.mp4`,
    material_id: 9000 + seed(day) * 10 + i,
    user_material_id: `u-${day}-${i}`,
    md5_file_id: `md5-${day}-${i}`,
    material_type: i % 2 === 0 ? 'video' : 'image',
    tag: ['q4'],
    width: 1080,
    height: 1920,
    created_at: `${day} 10:0${i}:00`,
  }));
}

/** Two creatives whose record was updated on `day` (created earlier): what the library by update date answers. */
export function libraryUpdatedRows(day: string): unknown[] {
  return Array.from({ length: 2 }, (_, i) => ({
    material_name: `creative-updated-${day}-${i}.png`,
    material_id: 7000 + seed(day) * 10 + i,
    user_material_id: `u-upd-${day}-${i}`,
    md5_file_id: `md5-upd-${day}-${i}`,
    material_type: 'image',
    tag: ['refreshed'],
    width: 1200,
    height: 628,
    created_at: '2026-01-05 09:00:00',
    updated_at: `${day} 15:0${i}:00`,
  }));
}

/** The metric names `/v1/media/report/fields` offers, per report_type. */
export const AVAILABLE_METRICS: Readonly<Record<'ad' | 'material', readonly string[]>> = {
  ad: ['impression', 'click', 'install', 'cost', 'ctr', 'cpi', 'cpm', 'postback_install'],
  material: ['impression', 'click', 'install', 'cost', 'currency_cost', 'ctr'],
};
