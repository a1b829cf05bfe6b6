// Every registered game server, online ones first.
'use strict';

nav('servers.html');

page([
  section(
      'list',
      async () => table(
          [
            {title: 'Server', cell: (s) => serverLink(s.server_id, s.name)},
            {title: 'Status', cell: (s) => (s.is_online ? 'online' : 'offline')},
            {title: 'Map', cell: (s) => (s.current_map ? mapLink(s.current_map) : '–')},
            {title: 'Players now', num: true, cell: (s) => fmt(s.current_players)},
            {title: 'Peak 24 h', num: true, cell: (s) => fmt(s.peak_players_24h)},
            {title: 'Matches', num: true, cell: (s) => fmt(s.total_matches)},
            {title: 'Kills', num: true, cell: (s) => fmt(s.total_kills)},
            {title: 'Last seen', cell: (s) => when(s.last_seen)},
          ],
          await api('/servers'), 'No game server has registered yet.')),
]);
