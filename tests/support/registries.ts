// Small registries for whole-system tests: one fire center, one grid, two homes of residents who
// live alone, a disabled detector, a fire panel and a settlement point.
import type { z } from 'zod';
import type { Database } from 'better-sqlite3';
import type { RegistryFile } from '../../contracts/registry.ts';
import type { RegistryStorage } from '../../contracts/storage.ts';
import { createRegistryStorage, sqliteRunner } from '../../storage/index.ts';

export type RegistryInput = z.input<typeof RegistryFile>;

export function smallCounty(overrides: Partial<RegistryInput> = {}): RegistryInput {
  return {
    centers: [{ id: 'fc-1', name: '鼓楼联合消防中心', timezone: 'Asia/Shanghai' }],
    grids: [{ id: 'g-1', centerId: 'fc-1', name: '幸福网格', workerId: 'p-grid' }],
    sites: [
      {
        id: 'h-1', kind: 'home', centerId: 'fc-1', gridId: 'g-1', name: '张桂英家', address: '幸福小区3栋201',
        resident: { name: '张桂英', age: 84, livesAlone: true },
        contacts: [{ name: '李明', relation: '儿子', phone: '13800000001', email: 'son@example.test' }],
      },
      {
        id: 'h-2', kind: 'home', centerId: 'fc-1', gridId: 'g-1', name: '王德华家', address: '幸福小区5栋102',
        resident: { name: '王德华', age: 79, livesAlone: true },
      },
      { id: 'b-1', kind: 'building', centerId: 'fc-1', gridId: 'g-1', name: '幸福小区3栋', address: '幸福小区3栋' },
    ],
    devices: [
      { id: 'sd-1', type: 'smoke_detector', siteId: 'h-1', location: '厨房' },
      { id: 'sd-2', type: 'smoke_detector', siteId: 'h-1', location: '卧室' },
      { id: 'sd-3', type: 'smoke_detector', siteId: 'h-2', location: '客厅' },
      { id: 'sd-off', type: 'smoke_detector', siteId: 'h-2', location: '卧室', enabled: false },
      { id: 'fp-1', type: 'fire_panel', siteId: 'b-1', location: '消控室' },
      { id: 'st-1', type: 'settlement_sensor', siteId: 'b-1', location: '东北角柱' },
    ],
    people: [
      { id: 'p-op', name: '值班员甲', role: 'operator', centerId: 'fc-1', email: 'op@example.test' },
      { id: 'p-op2', name: '值班员乙', role: 'operator', centerId: 'fc-1', email: 'op2@example.test' },
      { id: 'p-sup', name: '值班长', role: 'supervisor', centerId: 'fc-1', email: 'sup@example.test' },
      { id: 'p-grid', name: '网格员小刘', role: 'grid_worker', centerId: 'fc-1', email: 'grid@example.test' },
    ],
    rosters: [
      {
        centerId: 'fc-1', timezone: 'Asia/Shanghai',
        // One all-day shift for p-op: p-op2 is never on duty, so who is notified is decidable.
        shifts: [{ id: 'all', name: '全天班', start: '0 0 * * *', durationMinutes: 1440, operators: ['p-op'], supervisor: 'p-sup' }],
      },
    ],
    ...overrides,
  };
}

/** The registry's durable copy on an open SQLite file, as app/stores.ts makes it without storage.postgresUrl. */
export function sqliteRegistryStorage(db: Database): RegistryStorage {
  return createRegistryStorage({ sql: sqliteRunner(db) });
}
