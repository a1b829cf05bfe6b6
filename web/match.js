// A match: summary, scoreboard by team, kills over time, kill feed, top weapons, heat map of kills or deaths.
// ?id=MATCH_ID
'use strict';

nav('matches.html');

// The heat map of the kills or the deaths, as the toggle says.
function heat(M) {
  const type = document.querySelector('input[name=heat]:checked').value;
  return section('heat', async () => {
    const cells = await api(M + '/heatmap?type=' + type);
    if (!cells.length) return message('No positions recorded for this match.');
    return heatMap(
        cells,
        (type === 'kills' ? 'Kills by the killer\'s position' : 'Deaths by the victim\'s position') + ' (north up).');
  });
}

async function main() {
  const id = param('id');
  if (!id) {
    document.getElementById('summary').replaceChildren(
        message('No match named: open one from the home page or a player (match.html?id=...).', 'error'));
    ['scoreboard', 'timeline', 'heat', 'feed', 'weapons'].forEach((s) => document.getElementById(s).replaceChildren());
    page([]);
    return;
  }
  const M = '/stats/match/' + enc(id);
  document.querySelectorAll('input[name=heat]').forEach((r) => r.addEventListener('change', () => heat(M)));
  const match = api(M);  // shared by several sections
  const timeline = api(M + '/timeline');
  await page([
    section(
        'summary',
        async () => {
          const m = await match, info = m.info || {};
          document.getElementById('title').replaceChildren(
              mapTitle(m.map_name) + ' · ' + (m.game_mode || '').toUpperCase());
          return [
            cards([
              ['Map', mapLink(m.map_name), 'map'],
              ['Winner', m.winning_team || (info.finished ? 'draw' : 'not decided'), 'winner'],
              ['Players', fmt(info.player_count), 'player_count'],
              ['Kills', fmt(info.total_kills), 'total_kills'],
              ['Headshots', fmt(info.headshots), 'headshots'],
              ['Duration', duration(m.duration), 'duration'],
            ]),
            el('p', {}, 'Played on ', serverLink(info.server_id, info.server_name), ', started ', when(m.started_at),
               '.'),
          ];
        }),
    section(
        'scoreboard',
        async () => {
          const m = await match;
          const teams = {};
          for (const p of m.scoreboard || []) (teams[p.team || 'no team'] = teams[p.team || 'no team'] || []).push(p);
          const order = Object.keys(teams).sort();
          if (!order.length) return message('Nobody played in this match.');
          return order.map(
              (t) =>
                  [el('h3', {class: 'team-' + t}, t + (m.winning_team === t ? ' (won)' : '')),
                   table(
                       [
                         {title: 'Player', cell: (r) => playerLink(r.guid, r.name)},
                         {title: 'Kills', num: true, cell: (r) => fmt(r.kills)},
                         {title: 'Deaths', num: true, cell: (r) => fmt(r.deaths)},
                         {title: 'K/D', num: true, cell: (r) => fmt(r.kd)},
                         {title: 'Headshots', num: true, cell: (r) => fmt(r.headshots)},
                         {title: 'Time', num: true, cell: (r) => duration(r.time_played)},
                       ],
                       teams[t].sort((a, b) => b.kills - a.kills || a.deaths - b.deaths)),
          ]);
        }),
    section(
        'timeline',
        async () => {
          const [m, events] = await Promise.all([match, timeline]);
          const team = {};
          for (const p of m.scoreboard || []) team[p.guid] = p.team;
          const kills =
              events.filter((e) => e.event_type === 'player_kill' && e.actor_guid && e.actor_guid !== e.target_guid);
          if (!kills.length) return message('No kill in this match yet.');
          const labels = [], allies = [], axis = [];
          let a = 0, x = 0;
          for (const k of kills) {
            if (team[k.actor_guid] === 'allies')
              a++;
            else if (team[k.actor_guid] === 'axis')
              x++;
            labels.push(duration(k.game_time));
            allies.push(a);
            axis.push(x);
          }
          const canvas = el('canvas', {'aria-label': 'kills of each team over the match'});
          setTimeout(
              () => lineChart(canvas, labels, [{label: 'Axis', data: axis}, {label: 'Allies', data: allies}]), 0);
          return el('div', {class: 'chart'}, canvas);
        }),
    heat(M),
    section(
        'feed',
        async () => {
          const events = await timeline;
          const kills = events.filter((e) => e.event_type === 'player_kill').slice(-30).reverse();
          return table(
              [
                {title: 'Time', num: true, cell: (e) => duration(e.game_time)},
                {title: 'Killer', cell: (e) => (e.actor_guid ? playerLink(e.actor_guid, e.actor_name) : 'the world')},
                {title: 'Victim', cell: (e) => playerLink(e.target_guid, e.target_name)},
                {
                  title: 'Weapon',
                  cell: (e) => (e.weapon && e.weapon !== 'world' ? weaponLink(e.weapon) : e.weapon || '–')
                },
                {title: 'Hit', cell: (e) => (e.hitloc || '').replace(/_/g, ' ')},
              ],
              kills, 'No kill in this match yet.');
        }),
    section(
        'weapons',
        async () => table(
            [
              {title: 'Weapon', cell: (w) => weaponLink(w.name)},
              {title: 'Kills', num: true, cell: (w) => fmt(w.kills)},
              {title: 'Headshots', num: true, cell: (w) => fmt(w.headshots)},
            ],
            (await match).top_weapons, 'No kill in this match yet.')),
  ]);
}

main();
