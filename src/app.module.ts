import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { ReadYourWritesInterceptor } from './database/read-your-writes.interceptor';
import { LedgerErrorFilter } from './common/ledger-error.filter';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { GraphQLModule } from '@nestjs/graphql';
import { AuthGuard } from './auth/auth.guard';
import { ApiKeysResolver } from './auth/api-keys.resolver';
import { ApiKeysService } from './auth/api-keys.service';
import { queryLimitsRule } from './common/query-limits';
import { inputGuardPlugin } from './common/input-guard.plugin';
import { StrictDateTimeScalar } from './common/date-time.scalar';
import { graphQLErrorFormatter } from './common/graphql-errors';
import { RUNTIME, type Runtime } from './common/runtime';
import { AnchorerService } from './anchoring/anchorer.service';
import { BatchesResolver } from './batching/batches.resolver';
import { SealerService } from './batching/sealer.service';
import { CustodyIngestionService } from './custody/custody-ingestion.service';
import { CustodyQueryService } from './custody/custody-query.service';
import { CustodyResolver } from './custody/custody.resolver';
import { OrganizationsResolver } from './organizations/organizations.resolver';
import { DelegationsResolver } from './delegations/delegations.resolver';
import { DelegationsService } from './delegations/delegations.service';
import { OrganizationsService } from './organizations/organizations.service';
import { ProofsResolver } from './proofs/proofs.resolver';
import { ShipmentsResolver } from './shipments/shipments.resolver';
import { ShipmentsService } from './shipments/shipments.service';
import { SigningSpecResolver } from './signing/signing-spec.resolver';
import { EpcisResolver } from './epcis/epcis.resolver';
import { AuditResolver } from './audit/audit.resolver';
import { AuditRunsResolver } from './audit/audit-runs.resolver';
import { DisputesResolver } from './disputes/disputes.resolver';
import { DisputesService } from './disputes/disputes.service';
import { FraudResolver } from './fraud/fraud.resolver';
import { FraudService } from './fraud/fraud.service';
import { ProofBundleService } from './proofs/proof-bundle.service';
import { ProofOfDeliveryResolver } from './proofs/proof-of-delivery.resolver';
import { ProofsController } from './proofs/proofs.controller';
import { TrustRootService } from './proofs/trust-root.service';
import { WebController } from './web/web.controller';
import { ShareLinksResolver } from './sharing/share-links.resolver';
import { ShareLinksService } from './sharing/share-links.service';
import { TrackingViewService } from './sharing/tracking-view.service';
import { TrackingController } from './sharing/tracking.controller';
import { AnalyticsResolver } from './analytics/analytics.resolver';
import { AnalyticsService } from './analytics/analytics.service';
import { LiveUpdatesResolver } from './live/live-updates.resolver';
import { LiveUpdatesService } from './live/live-updates.service';
import { WebhooksResolver } from './webhooks/webhooks.resolver';
import { WebhooksService } from './webhooks/webhooks.service';

/** Every resolver, in one list: the app and the schema printer (scripts/print-schema.ts) share it. */
export const RESOLVERS = [SigningSpecResolver, OrganizationsResolver, ShipmentsResolver, CustodyResolver, ProofsResolver, BatchesResolver, EpcisResolver, AuditResolver, AuditRunsResolver, ProofOfDeliveryResolver, FraudResolver, DisputesResolver, ApiKeysResolver, DelegationsResolver, ShareLinksResolver, AnalyticsResolver, LiveUpdatesResolver, WebhooksResolver];

@Module({})
export class AppModule {
  static forRuntime(runtime: Runtime): DynamicModule {
    return {
      module: AppModule,
      imports: [
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          path: '/graphql',
          autoSchemaFile: true,
          sortSchema: true,
          playground: false,
          introspection: !runtime.config.production,
          hideSchemaDetailsFromClientErrors: runtime.config.production,
          context: ({ req }: { req: unknown }) => ({ req }),
          formatError: graphQLErrorFormatter(runtime.config.production),
          validationRules: [queryLimitsRule()],
          // Apollo's cache-control plugin computes a cache policy on every field of every answer
          // (a hook per field: 2,750 calls for a 250-event timeline); this API sets no cache hints
          // (HTTP caching of proofs: GET /inclusion-proofs, proofs.controller.ts)
          plugins: [inputGuardPlugin, ApolloServerPluginCacheControlDisabled()],
          buildSchemaOptions: { scalarsMap: [{ type: Date, scalar: StrictDateTimeScalar }] },
        }),
      ],
      providers: [
        { provide: RUNTIME, useValue: runtime },
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
        { provide: APP_FILTER, useClass: LedgerErrorFilter },
        ApiKeysService,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_INTERCEPTOR, useClass: ReadYourWritesInterceptor },
        ...RESOLVERS,
        OrganizationsService,
        ShipmentsService,
        AnalyticsService,
        WebhooksService,
        CustodyIngestionService,
        CustodyQueryService,
        SealerService,
        AnchorerService,
        ProofBundleService,
        TrustRootService,
        FraudService,
        DisputesService,
        DelegationsService,
        ShareLinksService,
        TrackingViewService,
        LiveUpdatesService,
      ],
      controllers: [ProofsController, TrackingController, WebController],
    };
  }
}
