// console/routes — the console's pages, in navigation order. A page is a module under
// pages/ exporting its component; `title` names it in the navigation in both languages and
// `words` adds the strings only that page uses (merged over i18n.js's shared ones).
// Adding a page is one entry here.
import { Overview } from './pages/overview.js';

export const ROUTES = [
  { path: 'overview', page: Overview, title: { en: 'Overview', zh: '概览' } },
];
