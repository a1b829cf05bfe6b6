// Every map played, most kills first.
'use strict';

nav('maps.html');

page([
  section(
      'list',
      async () => table(
          [
            {title: 'Map', cell: (m) => mapLink(m.map_name)},
            {title: 'Matches', num: true, cell: (m) => fmt(m.total_matches)},
            {title: 'Kills', num: true, cell: (m) => fmt(m.total_kills)},
            {title: 'Headshots', num: true, cell: (m) => fmt(m.total_headshots)},
            {title: 'Players', num: true, cell: (m) => fmt(m.unique_players)},
            {title: 'Avg length', num: true, cell: (m) => duration(m.avg_duration)},
            {title: 'Last played', cell: (m) => when(m.last_played)},
          ],
          await api('/stats/maps'), 'No map has been played yet.')),
]);
