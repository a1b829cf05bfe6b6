// Leaderboards: every stat of the forum's 38 and every period, paged (25 a page), sortable by column.
'use strict';

nav('leaderboards.html');

const STATS = [
  ['kills', 'Kills'],
  ['deaths', 'Deaths'],
  ['kd_ratio', 'K/D'],
  ['headshots', 'Headshots'],
  ['accuracy', 'Accuracy'],
  ['shots_fired', 'Shots fired'],
  ['damage', 'Damage'],
  ['bash_kills', 'Bash kills'],
  ['grenade_kills', 'Grenade kills'],
  ['roadkills', 'Roadkills'],
  ['telefrags', 'Telefrags'],
  ['crushed', 'Crushed'],
  ['teamkills', 'Team kills'],
  ['suicides', 'Suicides'],
  ['reloads', 'Reloads'],
  ['weapon_swaps', 'Weapon swaps'],
  ['no_ammo', 'Out of ammo'],
  ['looter', 'Items looted'],
  ['distance', 'Distance (km)'],
  ['sprinted', 'Sprinted (km)'],
  ['swam', 'Swam (km)'],
  ['driven', 'Driven (km)'],
  ['jumps', 'Jumps'],
  ['crouch_time', 'Crouches'],
  ['prone_time', 'Prone'],
  ['ladders', 'Ladders'],
  ['health_picked', 'Health picked'],
  ['ammo_picked', 'Ammo picked'],
  ['armor_picked', 'Armor picked'],
  ['items_picked', 'Items picked'],
  ['wins', 'Wins'],
  ['team_wins', 'Team wins'],
  ['ffa_wins', 'FFA wins'],
  ['losses', 'Losses'],
  ['objectives', 'Objectives'],
  ['rounds', 'Rounds'],
  ['playtime', 'Playtime'],
  ['games', 'Matches'],
];
const PAGE = 25;
const state = {
  stat: param('stat') || 'kills',
  period: param('period') || 'all',
  page: Math.max(1, Number(param('page')) || 1),
  sort: null,
  desc: true,
  rows: [],
};

const statSel = document.getElementById('stat'), periodSel = document.getElementById('period');
for (const [k, label] of STATS) statSel.append(el('option', {value: k}, label));
statSel.value = state.stat;
periodSel.value = state.period;

function statLabel() {
  return (STATS.find(([k]) => k === state.stat) || [state.stat, state.stat])[1];
}

// The current page's rows, sorted by the column chosen (the API ranks by the stat itself).
function boardTable() {
  const rows = state.rows.slice();
  if (state.sort) {
    const key = state.sort, sign = state.desc ? -1 : 1;
    rows.sort((a, b) => (key === 'name' ? String(a.name).localeCompare(String(b.name)) : a[key] - b[key]) * sign);
  }
  const head = (title, key, num) => ({
    title:
        el('span', {
          class: 'sortable',
          onclick: () => {
            state.desc = state.sort === key ? !state.desc : key !== 'name';
            state.sort = key;
            render();
          }
        },
           title + (state.sort === key ? (state.desc ? ' ▼' : ' ▲') : '')),
    num,
    key,
  });
  const cols = [
    Object.assign(head('#', 'rank', true), {cell: (r) => r.rank}),
    Object.assign(head('Player', 'name'), {cell: (r) => playerLink(r.player_id, r.name || r.player_name)}),
    Object.assign(head(statLabel(), 'value', true), {cell: (r) => r.display_value || fmt(r.value)}),
  ];
  return table(
      cols, rows, 'Nobody is ranked for this stat and period yet (leaderboards are rebuilt every few minutes).');
}

function render() {
  document.getElementById('board').replaceChildren(boardTable());
}

async function load() {
  history.replaceState(null, '', '?stat=' + enc(state.stat) + '&period=' + enc(state.period) + '&page=' + state.page);
  await section('board', async () => {
    const b = await api(
        '/stats/leaderboard/global?stat=' + enc(state.stat) + '&period=' + enc(state.period) + '&limit=' + PAGE +
        '&offset=' + (state.page - 1) * PAGE);
    state.rows = b.players || [];
    const pages = Math.max(1, Math.ceil((b.total || 0) / PAGE));
    document.getElementById('pageinfo').textContent =
        'Page ' + state.page + ' of ' + pages + ' (' + fmt(b.total) + ' players)';
    document.getElementById('prev').disabled = state.page <= 1;
    document.getElementById('next').disabled = state.page >= pages;
    return boardTable();
  });
}

statSel.addEventListener('change', () => {
  state.stat = statSel.value;
  state.page = 1;
  state.sort = null;
  load();
});
periodSel.addEventListener('change', () => {
  state.period = periodSel.value;
  state.page = 1;
  load();
});
document.getElementById('prev').addEventListener('click', () => {
  state.page--;
  load();
});
document.getElementById('next').addEventListener('click', () => {
  state.page++;
  load();
});

page([load()]);
