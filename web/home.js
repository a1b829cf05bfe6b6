// The home page: global totals, live servers (refreshing), recent matches, the week's top players, recent unlocks.
'use strict';

nav('index.html');

function liveServers() {
  return section('live', async () => {
    const live = await api('/stats/live/matches');
    if (!live.length) return message('No server is playing right now.');
    return el('div', {class: 'servers'}, live.map((s) => {
      const players = (s.players || []).slice().sort((a, b) => b.kills - a.kills);
      return el(
          'div', {class: 'server'}, el('strong', {}, serverLink(s.server_id, s.server_name)), ' on ',
          mapLink(s.current_map || s.map_name),
          el('div', {class: 'players'}, players.length + ' playing: ',
             players.slice(0, 12).map(
                 (p, i) => [i ? ', ' : '', playerLink(p.guid, p.name), ' ' + p.kills + '/' + p.deaths])));
    }));
  });
}

page([
  section(
      'totals',
      async () => {
        const g = await api('/stats/global');
        return cards([
          ['Kills', fmt(g.total_kills), 'total_kills'],
          ['Matches', fmt(g.total_matches), 'total_matches'],
          ['Players', fmt(g.total_players), 'total_players'],
          ['Headshots', fmt(g.total_headshots), 'total_headshots'],
          ['Servers', fmt(g.server_count), 'server_count'],
          ['Active in 24 h', fmt(g.active_players_24h), 'active_players_24h'],
          ['Achievements', fmt(g.total_achievements_unlocked), 'total_achievements_unlocked'],
        ]);
      }),
  liveServers(),
  section(
      'matches',
      async () => {
        const m = await api('/stats/matches?limit=8');
        return table(
            [
              {title: 'Map', cell: (r) => matchLink(r.match_id, mapTitle(r.map_name))},
              {title: 'Server', cell: (r) => serverLink(r.server_id, r.server_name)},
              {title: 'Players', num: true, cell: (r) => fmt(r.player_count)},
              {title: 'Kills', num: true, cell: (r) => fmt(r.total_kills)},
              {title: 'Started', cell: (r) => when(r.started_at)},
            ],
            m.list, 'No match has been played yet.');
      }),
  section(
      'top',
      async () => {
        const b = await api('/stats/leaderboard/global?stat=kills&period=week&limit=10');
        return table(
            [
              {title: '#', num: true, cell: (r) => r.rank},
              {title: 'Player', cell: (r) => playerLink(r.player_id, r.name || r.player_name)},
              {title: 'Kills', num: true, cell: (r) => fmt(r.value)},
            ],
            b.players, 'No ranked player this week yet (leaderboards are rebuilt every few minutes).');
      }),
  section(
      'achievements',
      async () => {
        const a = await api('/achievements/recent?limit=8');
        return table(
            [
              {
                title: 'Player',
                cell: (r) =>
                    el('a', {href: 'player.html?member=' + enc(r.id_member)}, r.member_name || 'member ' + r.id_member)
              },
              {title: 'Achievement', cell: (r) => el('a', {href: 'achievements.html#' + enc(r.code)}, r.name)},
              {title: 'What', cell: (r) => r.description},
              {title: 'When', cell: (r) => when(r.unlocked_date)},
            ],
            a, 'No achievement unlocked yet.');
      }),
]);

// Live servers change by the second; the rest of the page is cached by the API for a minute anyway.
setInterval(liveServers, 15000);
