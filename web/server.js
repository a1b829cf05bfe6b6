// A game server: its figures, who plays now (refreshing), players over the last day, top players, maps, matches.
// ?id=SERVER_ID
'use strict';

nav('servers.html');

const id = param('id');
const S = '/servers/' + enc(id || '');

function live() {
  return section('live', async () => {
    const l = await api(S + '/live');
    if (!l.is_online) return message('The server is offline.');
    const players = (l.players || []).slice().sort((a, b) => b.kills - a.kills);
    return [
      el('p', {}, 'On ', mapLink(l.current_map), ', ' + players.length + ' players.'),
      table(
          [
            {title: 'Player', cell: (p) => playerLink(p.guid, p.name)},
            {title: 'Team', cell: (p) => p.team || '–'},
            {title: 'Kills', num: true, cell: (p) => fmt(p.kills)},
            {title: 'Deaths', num: true, cell: (p) => fmt(p.deaths)},
          ],
          players, 'Nobody is playing.'),
    ];
  });
}

if (!id) {
  document.getElementById('summary').replaceChildren(
      message('No server named: open one from the servers page (server.html?id=...).', 'error'));
  ['live', 'history', 'top', 'maps', 'matches'].forEach((s) => document.getElementById(s).replaceChildren());
  page([]);
} else {
  page([
    section(
        'summary',
        async () => {
          const s = await api(S), st = s.stats || {};
          document.getElementById('title').textContent = s.name;
          document.title = s.name + ' · mohstats';
          return [
            cards([
              ['Status', s.is_online ? 'online' : 'offline', 'status'],
              ['Kills', fmt(st.total_kills), 'total_kills'],
              ['Matches', fmt(st.total_matches), 'total_matches'],
              ['Players', fmt(st.unique_players), 'unique_players'],
              ['Hours played', fmt(st.total_playtime_hours), 'hours'],
            ]),
            el('p', {}, 'Address ' + s.address + ':' + s.port + ', last seen ' + when(s.last_seen) + '.'),
          ];
        }),
    live(),
    section(
        'history',
        async () => {
          const h = await api(S + '/player-history');
          const canvas = el('canvas', {'aria-label': 'players each hour'});
          setTimeout(
              () => lineChart(
                  canvas, h.map((x) => x.hour.slice(11, 16)), [{label: 'Players', data: h.map((x) => x.players)}]),
              0);
          return el('div', {class: 'chart'}, canvas);
        }),
    section(
        'top',
        async () => table(
            [
              {title: '#', num: true, cell: (r) => r.rank},
              {title: 'Player', cell: (r) => playerLink(r.guid, r.name)},
              {title: 'Kills', num: true, cell: (r) => fmt(r.kills)},
              {title: 'K/D', num: true, cell: (r) => fmt(r.kd_ratio)},
            ],
            await api(S + '/top-players'), 'Nobody ranked yet.')),
    section(
        'maps',
        async () => table(
            [
              {title: 'Map', cell: (r) => mapLink(r.map_name)},
              {title: 'Matches', num: true, cell: (r) => fmt(r.matches)},
              {title: 'Kills', num: true, cell: (r) => fmt(r.kills)},
              {title: 'Share', num: true, cell: (r) => fmt(r.popularity_pct, 1) + ' %'},
            ],
            await api(S + '/maps'), 'No map played yet.')),
    section(
        'matches',
        async () => table(
            [
              {title: 'Map', cell: (r) => matchLink(r.match_id, mapTitle(r.map_name))},
              {title: 'Players', num: true, cell: (r) => fmt(r.player_count)},
              {title: 'Kills', num: true, cell: (r) => fmt(r.total_kills)},
              {title: 'Winner', cell: (r) => r.winner || '–'},
              {title: 'Started', cell: (r) => when(r.started_at)},
            ],
            await api(S + '/matches?limit=10'), 'No match played yet.')),
  ]);
  setInterval(live, 15000);
}
