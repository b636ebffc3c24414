// After tonemapping, each view (each eye of a headset) is copied into a GPU readback buffer and,
// once the GPU has it (a later frame; never waited for), into the stream's request slot; the newest
// stylized frame the stream has is drawn over the view instead; when none is ready the last one
// stays. All bookkeeping is the engine-free core's (ArtEmCore); this file is the engine's side.
#pragma once

#include "ArtEmCore/ReadbackRing.h"
#include "ArtEmCore/StereoLayout.h"
#include "ArtEmCore/Streamer.h"
#include "CoreMinimal.h"
#include "Misc/EngineVersionComparison.h"
#include "RHIGPUReadback.h"
#include "SceneViewExtension.h"

#include <atomic>
#include <memory>
#include <vector>

class UGameInstance;

class FArtEmViewExtension : public FSceneViewExtensionBase
{
public:
	FArtEmViewExtension(const FAutoRegister& AutoRegister, std::shared_ptr<ArtEm::Streamer> InStreamer,
		UGameInstance* InGameInstance);

	/** Game thread: whether stylized frames are streamed and shown (artem.Enable, SetEnabled). */
	void SetEnabled(bool bInEnabled) { bEnabled.store(bInEnabled); }
	/** Game thread: whether a stream is open (Connect) or not (Disconnect: the game's own frames). */
	void SetConnected(bool bInConnected) { bConnected.store(bInConnected); }

	virtual void SetupViewFamily(FSceneViewFamily& InViewFamily) override {}
	virtual void SetupView(FSceneViewFamily& InViewFamily, FSceneView& InView) override {}
	virtual void BeginRenderViewFamily(FSceneViewFamily& InViewFamily) override {}
	virtual void PreRenderViewFamily_RenderThread(
		FRDGBuilder& GraphBuilder, FSceneViewFamily& InViewFamily) override;
#if UE_VERSION_OLDER_THAN(5, 5, 0)
	virtual void SubscribeToPostProcessingPass(EPostProcessingPass Pass,
		FAfterPassCallbackDelegateArray& InOutPassCallbacks, bool bIsPassEnabled) override;
#else
	virtual void SubscribeToPostProcessingPass(EPostProcessingPass Pass, const FSceneView& InView,
		FPostProcessingPassDelegateArray& InOutPassCallbacks, bool bIsPassEnabled) override;
#endif

protected:
	virtual bool IsActiveThisFrame_Internal(const FSceneViewExtensionContext& Context) const override;

private:
	FScreenPassTexture AfterTonemap_RenderThread(
		FRDGBuilder& GraphBuilder, const FSceneView& View, const FPostProcessMaterialInputs& Inputs);
	void LandReadbacks_RenderThread(uint64 FrameNumber);
	void UploadNewest_RenderThread(FRDGBuilder& GraphBuilder);
	void QueueReadback_RenderThread(FRDGBuilder& GraphBuilder, const FSceneView& View,
		const FScreenPassTexture& SceneColor, int32 Eye);

	const std::shared_ptr<ArtEm::Streamer> Streamer;
	const TWeakObjectPtr<UGameInstance> GameInstance;
	std::atomic<bool> bEnabled{true};
	std::atomic<bool> bConnected{false};

	// Render thread only.
	ArtEm::ReadbackRing Ring{4};  // two frames of two eyes in flight
	TArray<TUniquePtr<FRHIGPUTextureReadback>> Readbacks;
	TArray<uint64> ReadbackGeneration;            // the stream generation each readback's slot is of
	TArray<FIntPoint> ReadbackSize;
	ArtEm::FrameGrouper Grouper;                  // both eyes of a frame into one slot
	uint64 FrameGeneration = 0;
	std::vector<ArtEm::ViewInput> SeenViews;      // this frame's views: the next frame's layout
	uint64 SeenFrame = 0;
	bool bStreamable = true;                      // the layout and the display output can be streamed
	bool bWarned = false;
	TRefCountPtr<IPooledRenderTarget> Stylized[2];  // the stylized frame on show, per eye
	ArtEm::StereoLayout ShownLayout;                 // its eyes (none yet: no eyes)
};
