// The OpenAPI 3.1 document, generated from the endpoint list: the zod schemas that validate each
// request are the schemas it documents, and the authorisation table writes each "Allowed:" line.
import { z } from 'zod';
import { describeRule, isPublic } from '../access.js';
import type { Endpoint } from './endpoint.js';

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const s = jsonSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: prop,
    ...(typeof prop.description === 'string' ? { description: prop.description } : {}),
  }));
}

export function openApiDocument(endpoints: readonly Endpoint[], info: { version: string }): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const e of endpoints) {
    const path = '/api' + e.path.replace(/:(\w+)/g, '{$1}');
    const content: Json = {};
    if (e.body) {
      for (const type of e.bodyTypes ?? ['application/json']) {
        content[type] =
          type === 'application/json'
            ? { schema: jsonSchema(e.body, 'input') }
            : { schema: type === 'text/csv' ? { type: 'string', description: 'CSV text with a header row.' } : { type: 'string', contentMediaType: type, description: 'The raw bytes of the file.' } };
      }
    }
    const responses = Object.fromEntries(
      Object.entries(e.answers).map(([status, a]) => [
        status,
        {
          description: a.description,
          ...(a.schema
            ? {
                content: {
                  [a.problem ? 'application/problem+json' : 'application/json']: { schema: jsonSchema(a.schema, 'output') },
                  ...Object.fromEntries((a.alsoAs ?? []).map((type) => [type, { schema: { type: 'string' } }])),
                },
              }
            : {}),
        },
      ]),
    );
    (paths[path] ??= {})[e.method] = {
      operationId: `${e.method}${e.path.replace(/[/:-](\w)/g, (_m, c: string) => c.toUpperCase()).replace(/\W/g, '')}`,
      summary: e.summary,
      description: [e.description, describeRule(e.action)].filter(Boolean).join('\n\n'),
      tags: [e.tag],
      security: isPublic(e.action) ? [] : [{ bearer: [] }],
      parameters: [...parameters(e.params, 'path'), ...parameters(e.query, 'query')],
      ...(e.body ? { requestBody: { required: true, content } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Onair API',
      version: info.version,
      description: 'REST API of the Onair live-event appliance. Errors are application/problem+json. Lists take ?limit= (default 20, max 100) and ?cursor= and answer {items, nextCursor}.',
    },
    servers: [{ url: '/' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths,
  };
}
