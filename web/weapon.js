// A weapon: its figures and the players best with it. ?name=WEAPON
'use strict';

nav('weapons.html');

const name = param('name');
const W = '/stats/weapon/' + enc(name || '');

if (!name) {
  document.getElementById('summary').replaceChildren(
      message('No weapon named: open one from the weapons page (weapon.html?name=...).', 'error'));
  document.getElementById('top').replaceChildren();
  page([]);
} else {
  document.getElementById('title').textContent = name;
  page([
    section(
        'summary',
        async () => {
          const w = await api(W);
          return cards([
            ['Kills', fmt(w.kills), 'kills'],
            ['Headshots', fmt(w.headshots), 'headshots'],
            ['Headshot %', fmt(w.headshot_ratio, 1), 'headshot_ratio'],
            ['Avg distance (m)', fmt(w.avg_kill_distance, 1), 'avg_kill_distance'],
            ['Players', fmt(w.unique_users), 'unique_users'],
            ['Last used', w.last_used || '–', 'last_used'],
          ]);
        }),
    section(
        'top',
        async () => table(
            [
              {title: '#', num: true, cell: (r) => r.rank},
              {title: 'Player', cell: (r) => playerLink(r.guid, r.name)},
              {title: 'Kills', num: true, cell: (r) => fmt(r.kills)},
              {title: 'Headshots', num: true, cell: (r) => fmt(r.headshots)},
              {title: 'Headshot %', num: true, cell: (r) => fmt(r.hs_ratio, 1)},
            ],
            await api(W + '/leaderboard?limit=20'), 'Nobody has a kill with it yet.')),
  ]);
}
