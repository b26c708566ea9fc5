import type { Clock } from '../../../src/util/clock';
import { json, startServer, type TestServer } from '../http';
import { Faults } from './faults';

/**
 * A loopback API Sirene 3.11 (upstreams.md §2): `GET /siret?q=&tri=&nombre=&curseur=` with cursor
 * pagination (the last page is the one whose `curseurSuivant` equals its `curseur`, reached with an
 * empty page, as Solr cursors behave), 404 for a search with no match, `GET /informations`, and the
 * `X-INSEE-Api-Key-Integration` key checked on every request (401 otherwise).
 */

export interface SireneEtablissement {
  siren: string;
  nic: string;
  siret: string;
  dateDernierTraitementEtablissement: string;
  [field: string]: unknown;
}

export interface SireneUpstreamOptions {
  key: string;
  etablissements?: SireneEtablissement[];
  /** `dateDerniereMiseADisposition` of établissements in /informations. */
  publication?: string;
  /** Timestamps each request on this clock (to check the pacing). */
  clock?: Clock;
  /**
   * Extra headers on the n-th /siret answer (from 0): the gateway's rate-limit headers. Their names are
   * UNCONFIRMED for API Sirene (no source found): the common `X-RateLimit-Remaining` / `-Reset`.
   */
  searchHeaders?: (index: number) => Record<string, string>;
}

export interface SireneUpstream {
  url: string;
  baseUrl: string;
  server: TestServer;
  faults: Faults;
  /** Clock time of every request, in order. */
  times: number[];
  /** Query parameters of every /siret request, in order. */
  searches(): URLSearchParams[];
  setEtablissements(list: SireneEtablissement[]): void;
  setPublication(date: string): void;
  close(): Promise<void>;
}

/** The opaque cursor this server hands out for a result offset. */
export function cursorFor(offset: number): string {
  return Buffer.from(`AoE-offset:${offset}`).toString('base64');
}

function offsetOf(cursor: string): number | null {
  if (cursor === '*') return 0;
  const match = /^AoE-offset:(\d+)$/.exec(Buffer.from(cursor, 'base64').toString('utf8'));
  return match ? Number(match[1]) : null;
}

const RANGE = /^dateDernierTraitementEtablissement:\[(\S+) TO \*\]$/;

export async function startSireneUpstream(options: SireneUpstreamOptions): Promise<SireneUpstream> {
  let data = [...(options.etablissements ?? [])];
  let publication = options.publication ?? '2026-11-21T03:00:00.000';
  const faults = new Faults();
  const times: number[] = [];
  let searches = 0;

  const server = await startServer(async (req, res) => {
    times.push(options.clock?.now() ?? Date.now());
    if ((await faults.apply(req, res)) !== false) return;
    if (req.headers['x-insee-api-key-integration'] !== options.key) {
      json(res, 401, {
        fault: { code: 900901, message: 'Invalid Credentials', description: 'Invalid Credentials' },
      });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://loopback');
    const path = url.pathname.replace(/^\/api-sirene\/3\.11/, '');
    if (path === '/informations') {
      json(res, 200, {
        etatService: 'UP',
        versionService: '3.11',
        etatsDesServices: [{ Collection: 'Établissements', etatCollection: 'UP' }],
        datesDernieresMisesAJourDesDonnees: [
          { collection: 'Unités Légales', dateDerniereMiseADisposition: publication },
          {
            collection: 'Établissements',
            dateDerniereMiseADisposition: publication,
            dateDernierTraitementMaximum: publication,
            dateDernierTraitementDeMasse: '2026-01-02',
          },
        ],
      });
      return;
    }
    if (path !== '/siret') {
      json(res, 404, { header: { statut: 404, message: `no route ${path}` } });
      return;
    }
    const params = url.searchParams;
    const range = RANGE.exec(params.get('q') ?? '');
    const nombre = Number(params.get('nombre') ?? 20);
    const cursor = params.get('curseur');
    const offset = cursor === null ? null : offsetOf(cursor);
    if (!range || !Number.isInteger(nombre) || nombre < 1 || nombre > 1000 || offset === null) {
      json(res, 400, {
        header: { statut: 400, message: `Erreur de syntaxe dans le paramètre q, nombre ou curseur` },
      });
      return;
    }
    const since = range[1] as string;
    const tri = params.get('tri');
    const matching = data.filter((e) => e.dateDernierTraitementEtablissement >= since);
    if (tri === 'dateDernierTraitementEtablissement') {
      matching.sort((a, b) =>
        a.dateDernierTraitementEtablissement < b.dateDernierTraitementEtablissement
          ? -1
          : a.dateDernierTraitementEtablissement > b.dateDernierTraitementEtablissement
            ? 1
            : a.siret.localeCompare(b.siret),
      );
    }
    if (matching.length === 0) {
      json(res, 404, { header: { statut: 404, message: 'Aucun élément trouvé pour q=' + params.get('q') } });
      return;
    }
    const page = matching.slice(offset, offset + nombre);
    const extra = options.searchHeaders?.(searches++) ?? {};
    json(
      res,
      200,
      {
        header: {
          statut: 200,
          message: 'OK',
          total: matching.length,
          debut: 0,
          nombre: page.length,
          curseur: cursor,
          curseurSuivant: cursorFor(offset + page.length),
        },
        etablissements: page,
      },
      extra,
    );
  });

  return {
    url: server.url,
    baseUrl: `${server.url}/api-sirene/3.11`,
    server,
    faults,
    times,
    searches: () =>
      server.requests
        .map((r) => new URL(r.path, 'http://loopback'))
        .filter((u) => u.pathname.endsWith('/siret'))
        .map((u) => u.searchParams),
    setEtablissements: (list) => {
      data = [...list];
    },
    setPublication: (date) => {
      publication = date;
    },
    close: () => server.close(),
  };
}

/** `count` établissements shaped like API Sirene's, updated one minute apart from `from` on. */
export function makeEtablissements(
  count: number,
  from = '2026-11-21T08:00:00.000',
  sirenBase = 398607333,
): SireneEtablissement[] {
  const start = Date.parse(`${from}Z`);
  return Array.from({ length: count }, (_, i) => {
    const siren = String(sirenBase + i).padStart(9, '0');
    const nic = String(59 + i).padStart(5, '0');
    return {
      siren,
      nic,
      siret: `${siren}${nic}`,
      statutDiffusionEtablissement: 'O',
      dateCreationEtablissement: '1998-03-17',
      trancheEffectifsEtablissement: '22',
      etablissementSiege: i % 2 === 0,
      dateDernierTraitementEtablissement: new Date(start + i * 60_000).toISOString().replace('Z', ''),
      nombrePeriodesEtablissement: 3,
      uniteLegale: {
        denominationUniteLegale: `ENTREPRISE ${i}`,
        categorieJuridiqueUniteLegale: '7120',
        etatAdministratifUniteLegale: 'A',
        activitePrincipaleUniteLegale: '84.11Z',
      },
      adresseEtablissement: {
        numeroVoieEtablissement: '88',
        typeVoieEtablissement: 'AV',
        libelleVoieEtablissement: 'VERDIER',
        codePostalEtablissement: '92120',
        libelleCommuneEtablissement: 'MONTROUGE',
        codeCommuneEtablissement: '92049',
      },
      periodesEtablissement: [
        {
          dateDebut: '1998-03-17',
          dateFin: null,
          etatAdministratifEtablissement: 'A',
          activitePrincipaleEtablissement: '84.11Z',
        },
      ],
    };
  });
}
