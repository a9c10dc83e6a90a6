import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { CreatedShareLink, ShareLink } from './share-link.model';
import { ShareLinksService } from './share-links.service';

/** Share links of public tracking pages: the platform admin, the shipment's carrier or its merchant. */
@Resolver(() => ShareLink)
export class ShareLinksResolver {
  constructor(private readonly links: ShareLinksService) {}

  @Mutation(() => CreatedShareLink, {
    description: "A link to the shipment's public tracking page (GET /api/track/<token>, shown at /t/<token>). The token is returned this once. By the platform admin, the shipment's carrier or its merchant; anyone else gets NOT_FOUND as for the shipment.",
  })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async createShareLink(
    @Args('carrier') carrier: string,
    @Args('trackingNumber') trackingNumber: string,
    @Caller() caller: Principal,
    @Args('grantsPersonalData', { type: () => Boolean, nullable: true, defaultValue: false, description: 'show personal data: the destination, extra data, evidence metadata and recipient values not erased (null: false)' }) grantsPersonalData: boolean | null,
    @Args('expiresAt', { type: () => Date, nullable: true, description: 'the link stops working then (in the future); default: until revoked' }) expiresAt?: Date | null,
  ): Promise<CreatedShareLink> {
    return this.links.create(carrier, trackingNumber, grantsPersonalData === true, expiresAt ?? null, caller);
  }

  @Query(() => [ShareLink], { description: "The shipment's share links, newest first, revoked and expired ones too; never a token." })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async shareLinks(@Args('carrier') carrier: string, @Args('trackingNumber') trackingNumber: string, @Caller() caller: Principal): Promise<ShareLink[]> {
    return this.links.list(carrier, trackingNumber, caller);
  }

  @Mutation(() => ShareLink, { description: 'The link stops working at once (its page answers SHARE_LINK_NOT_FOUND). Revoking again changes nothing.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async revokeShareLink(@Args('id', { type: () => ID }) id: string, @Caller() caller: Principal): Promise<ShareLink> {
    return this.links.revoke(id, caller);
  }
}
