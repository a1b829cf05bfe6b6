// A map: its figures, a heat map of kills or deaths (toggle), its best players. ?name=MAP (e.g. dm/mohdm1)
'use strict';

nav('maps.html');

const name = param('name');
const M = '/stats/map/' + enc(name || '');

function heat() {
  const type = document.querySelector('input[name=heat]:checked').value;
  return section('heat', async () => {
    const cells = await api(M + '/heatmap?type=' + type);
    if (!cells.length) return message('No positions recorded on this map.');
    return heatMap(
        cells,
        (type === 'kills' ? 'Kills by the killer\'s position' : 'Deaths by the victim\'s position') +
            ' (north up; cells of 64 game units).');
  });
}

if (!name) {
  document.getElementById('summary').replaceChildren(
      message('No map named: open one from the maps page (map.html?name=...).', 'error'));
  ['heat', 'top'].forEach((s) => document.getElementById(s).replaceChildren());
  page([]);
} else {
  document.getElementById('title').textContent = mapTitle(name) + ' (' + name + ')';
  document.querySelectorAll('input[name=heat]').forEach((r) => r.addEventListener('change', heat));
  page([
    section(
        'summary',
        async () => {
          const m = await api(M);
          return cards([
            ['Matches', fmt(m.total_matches), 'total_matches'],
            ['Kills', fmt(m.total_kills), 'total_kills'],
            ['Headshots', fmt(m.total_headshots), 'total_headshots'],
            ['Players', fmt(m.unique_players), 'unique_players'],
            ['Avg length', duration(m.avg_duration), 'avg_duration'],
            ['Last played', when(m.last_played), 'last_played'],
          ]);
        }),
    heat(),
    section(
        'top',
        async () => table(
            [
              {title: '#', num: true, cell: (r) => r.rank},
              {title: 'Player', cell: (r) => playerLink(r.guid, r.name)},
              {title: 'Kills', num: true, cell: (r) => fmt(r.kills)},
              {title: 'K/D', num: true, cell: (r) => fmt(r.kd_ratio)},
              {title: 'Headshots', num: true, cell: (r) => fmt(r.headshots)},
            ],
            (await api(M + '/leaderboard?limit=20')).leaderboard, 'Nobody ranked on this map yet.')),
  ]);
}
