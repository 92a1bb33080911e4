// Entry of the inspector bundle. Errors that escape everything else are
// still shown on the page (never a blank page).
import { render } from 'preact';
import { App, ErrorBoundary } from './app.js';

function showFatal(message: string): void {
  const root = document.getElementById('app');
  if (root === null) return;
  const box = document.createElement('div');
  box.className = 'panel error';
  box.setAttribute('role', 'alert');
  box.textContent = `The inspector failed: ${message}`;
  root.prepend(box);
}

addEventListener('error', (e) => showFatal(e.message));
addEventListener('unhandledrejection', (e) =>
  showFatal(e.reason instanceof Error ? e.reason.message : String(e.reason)),
);

const root = document.getElementById('app')!;
root.textContent = '';
render(
  <ErrorBoundary>
    <App />
  </ErrorBoundary>,
  root,
);
