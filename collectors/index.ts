import type { Collector } from '../src/runtime/contract';
import { dvf } from './dvf';
import { inseeContours } from './insee-contours';
import { plu } from './plu';
import { sirene } from './sirene';
import { xmp } from './xmp';

/** The collectors shipped in this repository. */
export function builtinCollectors(): Collector<unknown>[] {
  return [
    inseeContours as Collector<unknown>,
    dvf as Collector<unknown>,
    sirene as Collector<unknown>,
    plu as Collector<unknown>,
    xmp as Collector<unknown>,
  ];
}
