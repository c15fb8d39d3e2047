// Issue 17 point 3: incidents of one site (a panel's zones in an alarm storm) form one group, placed
// where its most urgent member would be, with a count and one button that acknowledges every new
// one. A big storm (more than COLLAPSE_AT zones) is shown collapsed: the count, the zones, the bulk
// acknowledge and a toggle, instead of fifty cards that push every other fire off the screen.
import { h } from './dom.js';
import { t } from './i18n.js';

export const COLLAPSE_AT = 5;

export function createGroups({ keyed, patchCard, reconcile, canAct, acknowledgeAll, rerender }) {
  /** Groups the operator opened (`siteId`); a link to one of its incidents opens it too. */
  const expanded = new Set();

  function group(section, members) {
    const first = members[0];
    const open = members.filter((i) => i.state === 'open');
    const el = keyed(`g:${section}:${first.siteId}`, () => h('section', { class: 'group', dataset: { siteId: first.siteId } },
      h('header', { class: 'group-head' }, h('span', { class: 'group-site' }), h('span', { class: 'group-count' }), h('span', { class: 'group-open' }),
        h('button', { type: 'button', class: 'btn danger', dataset: { action: 'acknowledge-group' } })),
      h('div', { class: 'group-summary' }, h('span', { class: 'group-zones' }),
        h('button', { type: 'button', class: 'btn small ghost', dataset: { action: 'toggle-group' } })),
      h('div', { class: 'group-body' })));
    const big = members.length > COLLAPSE_AT;
    const collapsed = big && !expanded.has(first.siteId);
    el.dataset.level = section;
    el.dataset.collapsed = String(collapsed);
    el.querySelector('.group-site').textContent = first.context.siteName;
    el.querySelector('.group-count').textContent = t('group.count', { n: members.length });
    el.querySelector('.group-open').textContent = open.length ? t('group.open', { n: open.length }) : '';
    const b = el.querySelector('[data-action="acknowledge-group"]');
    b.hidden = open.length === 0 || !canAct();
    b.textContent = t('action.acknowledgeAll', { n: open.length });
    b.onclick = () => void acknowledgeAll(open.map((i) => i.id));
    const summary = el.querySelector('.group-summary');
    summary.hidden = !big;
    if (big) {
      const zones = members.map((i) => i.zone).filter(Boolean).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      const shown = zones.slice(0, 16);
      el.querySelector('.group-zones').textContent = zones.length ? t('group.zones', { list: `${shown.join(', ')}${zones.length > shown.length ? ' …' : ''}` }) : '';
      const toggle = el.querySelector('[data-action="toggle-group"]');
      toggle.textContent = collapsed ? t('group.expand', { n: members.length }) : t('group.collapse');
      toggle.setAttribute('aria-expanded', String(!collapsed));
      toggle.onclick = () => {
        if (collapsed) expanded.add(first.siteId);
        else expanded.delete(first.siteId);
        rerender();
      };
    }
    // Collapsed: no cards at all (the cards keep their elements and come back patched when opened).
    reconcile(el.querySelector('.group-body'), collapsed ? [] : members.map(patchCard));
    return el;
  }

  /** The queue's blocks in order: single incidents as cards, several of one site as a group. */
  function groupsOf(list, section) {
    const bySite = new Map();
    for (const i of list) bySite.set(i.siteId, [...(bySite.get(i.siteId) || []), i]);
    const out = [];
    const placed = new Set();
    for (const i of list) {
      const members = bySite.get(i.siteId);
      if (members.length < 2) out.push(patchCard(i));
      else if (!placed.has(i.siteId)) {
        placed.add(i.siteId);
        out.push(group(section, members));
      }
    }
    return out;
  }

  return { groupsOf, expand: (siteId) => expanded.add(siteId) };
}
