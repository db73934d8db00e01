// The inspector summary that `host inspect` and `node <module file>` print (ServerKit's format).
import { HOST_API_VERSION, type ModuleDescriptor } from '../api.js';
import { renderOptions } from './render.js';

export function inspectorSummary(d: ModuleDescriptor): string {
  return (
    'ServerKit bundled module inspector\n' +
    '- Summary -\n' +
    `Name: ${d.name}\n` +
    `Description: ${d.description}\n` +
    `Module version: ${d.version}\n` +
    `Host API version: ${d.hostApi} (host provides ${HOST_API_VERSION})\n` +
    `Authors: ${d.authors.join(', ')}\n` +
    '- Supported configuration options & defaults -\n' +
    renderOptions(d.options, (_key, spec) => spec.default)
  );
}
