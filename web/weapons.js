// Every weapon used, most kills first.
'use strict';

nav('weapons.html');

page([
  section(
      'list',
      async () => table(
          [
            {title: 'Weapon', cell: (w) => weaponLink(w.weapon_name)},
            {title: 'Kills', num: true, cell: (w) => fmt(w.kills)},
            {title: 'Headshots', num: true, cell: (w) => fmt(w.headshots)},
            {title: 'Headshot %', num: true, cell: (w) => fmt(w.headshot_ratio, 1)},
            {title: 'Avg distance (m)', num: true, cell: (w) => fmt(w.avg_kill_distance, 1)},
            {title: 'Last used', cell: (w) => w.last_used || '–'},
          ],
          await api('/stats/weapons'), 'No kill has been made yet.')),
]);
