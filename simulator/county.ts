// The demo county: fire centers (some watching a consortium of compounds and a business), grids
// with their grid workers, thousands of homes of elderly residents with one to three detectors,
// panels with hundreds of points, buildings with settlement points, operators, supervisors and
// rosters — a RegistryFile the system loads, and a secret for every device. Same seed, same county.
import type { Center, Device, Grid, Person, RegistryFile, Roster, Site } from '../contracts/registry.ts';
import { hashSecret } from '../contracts/secrets.ts';
import { createRng, type Rng } from './prng.ts';
import {
  BUSINESSES, COUNTIES, OLD_COMPOUNDS, elderName, emailOf, mobile, pickModernCompound, pickOldCompound, pickRelation, pickStreet, youngName,
} from './names.ts';

export interface CountyOptions {
  seed: number | string;
  homes: number;
  /** Fire centers; default one per 1,500 homes, at least 1, at most 6. */
  centers?: number;
  /** Fire panels in all; default 3 per center (the consortium's compounds and its business). */
  panels?: number;
  /** Buildings with settlement monitoring; default 1 per center. */
  settlementBuildings?: number;
  /** Share of detectors that are battery NB-IoT units reporting daily instead of mains every 300 s. */
  nbIotShare?: number;
  /** Homes per grid (one grid worker each); default 60. */
  homesPerGrid?: number;
}

export interface County {
  registry: RegistryFile;
  /** device id → secret, to be handed to the simulator (and to nobody else). */
  credentials: Record<string, string>;
  name: string;
}

/** Room of a home detector, kept in device meta so scenarios can find the kitchen. */
export type Room = 'kitchen' | 'living_room' | 'bedroom';
const ROOM_ZH: Record<Room, string> = { kitchen: '厨房', living_room: '客厅', bedroom: '卧室' };
const ROOMS_BY_COUNT: Record<number, Room[]> = {
  1: ['living_room'],
  2: ['living_room', 'kitchen'],
  3: ['kitchen', 'living_room', 'bedroom'],
};

/** Daily reports for battery NB-IoT detectors (DESIGN.md: 24 h, offline at 25 h). */
export const NB_IOT_INTERVAL_SEC = 86_400;
export const MAINS_INTERVAL_SEC = 300;
export const PANEL_INTERVAL_SEC = 60;
export const SETTLEMENT_INTERVAL_SEC = 3600;

const pad = (n: number, w: number) => String(n).padStart(w, '0');

interface Ctx {
  rng: Rng;
  secrets: Rng;
  credentials: Record<string, string>;
}

function credential(ctx: Ctx, deviceId: string): string {
  // 24 random bytes = 192 bits (PROTOCOL.md: at least 128), salt from the same seeded stream so
  // that the registry file is byte-identical for a seed.
  const secret = ctx.secrets.bytes(24).toString('base64url');
  ctx.credentials[deviceId] = secret;
  return hashSecret(secret, ctx.secrets.bytes(16));
}

function staff(id: string, name: string, role: Person['role'], centerId: string, rng: Rng, locale: Person['locale'] = 'zh-CN'): Person {
  return { id, name, role, centerId, email: emailOf(id), phone: mobile(rng), locale };
}

export function generateCounty(opts: CountyOptions): County {
  if (!Number.isInteger(opts.homes) || opts.homes < 0) throw new RangeError(`homes must be a whole number ≥ 0, got ${opts.homes}`);
  const root = createRng(opts.seed);
  const ctx: Ctx = { rng: root.fork('county'), secrets: root.fork('secrets'), credentials: {} };
  const { rng } = ctx;
  const countyName = rng.pick(COUNTIES);
  const nCenters = opts.centers ?? Math.min(6, Math.max(1, Math.ceil(opts.homes / 1500)));
  const nPanels = opts.panels ?? nCenters * 3;
  const nBuildings = opts.settlementBuildings ?? nCenters;
  const nbShare = opts.nbIotShare ?? 0.2;
  const perGrid = opts.homesPerGrid ?? 60;

  const centers: Center[] = [];
  const grids: Grid[] = [];
  const sites: Site[] = [];
  const devices: Device[] = [];
  const people: Person[] = [];
  const rosters: Roster[] = [];

  const CENTER_NAMES = ['城关消防联动中心', '经开区消防联动中心', '城南智慧消防中心', '城北智慧消防中心', '高新区消防联动中心', '滨河消防联动中心'];
  for (let c = 1; c <= nCenters; c++) {
    const id = `ctr-${c}`;
    centers.push({ id, name: countyName + (CENTER_NAMES[(c - 1) % CENTER_NAMES.length] ?? `消防中心${c}`), timezone: 'Asia/Shanghai', consortium: [] });
    const ops = [1, 2, 3, 4].map((k) => staff(`op-${c}-${k}`, youngName(rng), 'operator', id, rng, k === 4 ? 'en' : 'zh-CN'));
    const sups = [1, 2].map((k) => staff(`sup-${c}-${k}`, youngName(rng), 'supervisor', id, rng));
    const manager = staff(`mgr-${c}`, youngName(rng), 'manager', id, rng);
    const liaison = staff(`liaison-${c}`, youngName(rng), 'liaison', id, rng);
    const maint = staff(`maint-${c}`, youngName(rng), 'maintainer', id, rng);
    people.push(...ops, ...sups, manager, liaison, maint);
    rosters.push({
      centerId: id,
      timezone: 'Asia/Shanghai',
      // Two 12-hour shifts (白班/夜班), the usual pattern of a duty room staffed around the clock.
      shifts: [
        { id: `${id}-day`, name: '白班', start: '0 8 * * *', durationMinutes: 720, operators: [ops[0]!.id, ops[1]!.id], supervisor: sups[0]!.id },
        { id: `${id}-night`, name: '夜班', start: '0 20 * * *', durationMinutes: 720, operators: [ops[2]!.id, ops[3]!.id], supervisor: sups[1]!.id },
      ],
      liaison: liaison.id,
      manager: manager.id,
    });
  }

  // Homes, spread over centers, then into grids of about `perGrid` homes.
  const homesOf = (c: number) => Math.floor(opts.homes / nCenters) + (c <= opts.homes % nCenters ? 1 : 0);
  let homeNo = 0;
  for (let c = 1; c <= nCenters; c++) {
    const centerId = `ctr-${c}`;
    const n = homesOf(c);
    const nGrids = Math.max(1, Math.ceil(n / perGrid));
    const gridIds: string[] = [];
    for (let g = 1; g <= nGrids; g++) {
      const id = `grid-${c}-${pad(g, 2)}`;
      const worker = staff(`gw-${c}-${pad(g, 2)}`, youngName(rng), 'grid_worker', centerId, rng);
      people.push(worker);
      grids.push({ id, centerId, name: `${pickStreet(rng)}社区第${g}网格`, workerId: worker.id });
      gridIds.push(id);
    }
    for (let h = 0; h < n; h++) {
      homeNo++;
      const gridId = gridIds[Math.floor((h * nGrids) / Math.max(1, n))]!;
      const home = makeHome(ctx, homeNo, centerId, gridId, countyName);
      sites.push(home.site);
      devices.push(...home.devices);
    }
  }

  // The consortium of each center: three old compounds and a business, each with a fire panel.
  let panelNo = 0;
  const panelSites: Site[] = [];
  for (let c = 1; c <= nCenters; c++) {
    const centerId = `ctr-${c}`;
    const center = centers[c - 1]!;
    for (let k = 1; k <= 3; k++) {
      const site: Site = { id: `cmp-${c}-${k}`, kind: 'compound', centerId, name: `${rng.chance(0.7) ? pickOldCompound(rng) : pickModernCompound(rng)}`, address: `${countyName}${pickStreet(rng)}${rng.int(1, 300)}号`, contacts: [{ name: youngName(rng), relation: '物业经理', phone: mobile(rng), locale: 'zh-CN' }] };
      panelSites.push(site);
      center.consortium.push(site.id);
    }
    const biz: Site = { id: `biz-${c}`, kind: 'business', centerId, name: BUSINESSES[(c - 1) % BUSINESSES.length]!, address: `${countyName}${pickStreet(rng)}${rng.int(1, 300)}号`, contacts: [{ name: youngName(rng), relation: '消防安全管理人', phone: mobile(rng), locale: 'zh-CN' }] };
    panelSites.push(biz);
    center.consortium.push(biz.id);
  }
  sites.push(...panelSites);
  for (let p = 0; p < nPanels; p++) {
    const site = panelSites[p % panelSites.length]!;
    panelNo++;
    const id = `fp-${pad(panelNo, 3)}`;
    const loops = rng.int(2, 4);
    const pointsPerLoop = rng.int(60, 200);
    devices.push({
      id, type: 'fire_panel', siteId: site.id, location: `${site.name}消防控制室`, intervalSec: PANEL_INTERVAL_SEC, enabled: true,
      // Panel configuration the transmission unit knows: the simulator builds its points from it.
      meta: { loops, pointsPerLoop, zonesPerLoop: rng.int(3, 6), floors: rng.int(6, 18), model: rng.pick(['JB-QB-GST200', 'JB-TG-JBF-11SF', 'JB-QT-LD128E']) },
      secretHash: credential(ctx, id),
    });
  }

  // Buildings of old compounds under settlement monitoring (老旧小区房屋安全监测).
  for (let b = 1; b <= nBuildings; b++) {
    const centerId = `ctr-${((b - 1) % nCenters) + 1}`;
    const compound = OLD_COMPOUNDS[(b * 7) % OLD_COMPOUNDS.length]!;
    const site: Site = { id: `bld-${pad(b, 2)}`, kind: 'building', centerId, name: `${compound}${rng.int(1, 12)}号楼`, address: `${countyName}${pickStreet(rng)}${rng.int(1, 300)}号${compound}`, compound, contacts: [{ name: youngName(rng), relation: '房屋安全责任人', phone: mobile(rng), locale: 'zh-CN' }] };
    sites.push(site);
    const points = rng.int(4, 8);
    const corners = ['东北角', '东南角', '西南角', '西北角', '北侧中柱', '南侧中柱', '楼梯间', '山墙'];
    for (let k = 1; k <= points; k++) {
      const id = `ss-${pad(b, 2)}-${pad(k, 2)}`;
      const crackMeter = k === points; // the last point of each building is a crack meter on a known crack
      devices.push({
        id, type: 'settlement_sensor', siteId: site.id, location: `${corners[(k - 1) % corners.length]}${crackMeter ? '裂缝计' : '沉降/倾斜监测点'}`,
        intervalSec: SETTLEMENT_INTERVAL_SEC, enabled: true,
        meta: { crackMeter, baseSettlementMm: Math.round(rng.range(0, 6) * 10) / 10, baseTiltPermil: Math.round(rng.range(0, 1.5) * 100) / 100, baseCrackMm: crackMeter ? Math.round(rng.range(0.2, 0.8) * 100) / 100 : 0 },
        secretHash: credential(ctx, id),
      });
    }
  }

  placeSites(root.fork('geo'), centers, grids, sites);
  const registry: RegistryFile = { centers, grids, sites, devices, people, rosters };
  return { registry, credentials: ctx.credentials, name: countyName };

  function makeHome(c: Ctx, no: number, centerId: string, gridId: string, county: string): { site: Site; devices: Device[] } {
    const r = c.rng;
    const compound = pickOldCompound(r);
    const building = r.int(1, 24);
    const unit = r.int(1, 4);
    const floor = r.int(1, 7); // old compounds: walk-ups of up to 7 floors, no lift
    const room = `${floor}0${r.int(1, 4)}`;
    const siteName = `${compound}${building}栋${unit}单元${room}`;
    const resident = elderName(r);
    const family = resident.name.slice(0, 1);
    const livesAlone = r.chance(0.85);
    const notes = r.chance(0.35) ? r.pick(['听力较差，电话需多响几声', '行动不便，使用助行器', '子女在外地工作', '患有高血压', '有钥匙存放在邻居家', '耳背，请上门确认']) : undefined;
    const nContacts = r.int(1, 2);
    const contacts = Array.from({ length: nContacts }, () => {
      const relation = pickRelation(r);
      return {
        name: relation === '邻居' ? youngName(r) : youngName(r, family),
        relation,
        phone: mobile(r),
        ...(r.chance(0.5) ? { email: `contact.${pad(no, 5)}.${r.int(1, 99)}@example.com` } : {}),
        locale: 'zh-CN' as const,
      };
    });
    const siteId = `home-${pad(no, 5)}`;
    const site: Site = {
      id: siteId, kind: 'home', centerId, gridId, name: siteName,
      address: `${county}${pickStreet(r)}${r.int(1, 400)}号${siteName}室`,
      resident: { name: resident.name, age: r.int(70, 95), livesAlone, ...(r.chance(0.7) ? { phone: mobile(r) } : {}), ...(notes ? { notes } : {}) },
      contacts,
    };
    const count = r.int(1, 3);
    const rooms = ROOMS_BY_COUNT[count]!;
    const battery = r.chance(nbShare);
    const devs: Device[] = rooms.map((roomKind, i) => {
      const id = `sd-${pad(no, 5)}-${i + 1}`;
      return {
        id, type: 'smoke_detector', siteId, location: ROOM_ZH[roomKind], enabled: true,
        intervalSec: battery ? NB_IOT_INTERVAL_SEC : MAINS_INTERVAL_SEC,
        meta: { room: roomKind, power: battery ? 'battery' : 'mains', co: roomKind === 'kitchen' && r.chance(0.3) },
        secretHash: credential(c, id),
      };
    });
    return { site, devices: devs };
  }
}

/**
 * Coordinates for the console's map (issue 17 point 6), from a stream of their own so the rest of
 * the county is the same for a seed as before: the centers ≈ 5 km apart around a county seat, each
 * center's grids side by side ≈ 600 m apart, a grid's homes within ≈ 250 m of its middle, the
 * compounds, businesses and buildings near their center.
 */
function placeSites(geo: Rng, centers: readonly Center[], grids: readonly Grid[], sites: Site[]): void {
  const seat = { lat: 30.6 + geo.range(-0.3, 0.3), lon: 119.8 + geo.range(-0.3, 0.3) };
  const at = new Map<string, { lat: number; lon: number }>();
  centers.forEach((c, k) => {
    const a = (2 * Math.PI * k) / Math.max(1, centers.length);
    const r = centers.length > 1 ? 0.045 : 0;
    at.set(c.id, { lat: seat.lat + r * Math.sin(a), lon: seat.lon + r * 1.15 * Math.cos(a) });
  });
  for (const c of centers) {
    const mine = grids.filter((g) => g.centerId === c.id);
    const cols = Math.ceil(Math.sqrt(mine.length));
    const mid = at.get(c.id)!;
    mine.forEach((g, k) => {
      const row = Math.floor(k / cols);
      const col = k % cols;
      at.set(g.id, { lat: mid.lat + (row - (cols - 1) / 2) * 0.0055, lon: mid.lon + (col - (cols - 1) / 2) * 0.0065 });
    });
  }
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  for (const s of sites) {
    const anchor = (s.gridId ? at.get(s.gridId) : undefined) ?? at.get(s.centerId) ?? seat;
    const spread = s.gridId ? 0.0022 : 0.012;
    s.lat = round(anchor.lat + geo.range(-spread, spread));
    s.lon = round(anchor.lon + geo.range(-spread, spread) * 1.15);
  }
}
